/**
 * Context: everything a keyrack operation reads from its surroundings, read once and passed
 * down (no module reads process.env at import time). The SDK builds one from its options; the
 * CLI builds one from the process; tests build one from a temp HOME.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { assertOwner, DEFAULT_OWNER } from './domain/names.ts'

export type Env = Record<string, string | undefined>

/**
 * Supplies a passphrase (a transient vault credential) when one is needed; never stored.
 * Called again with attempt + 1 after a wrong one; returns null when there are no more tries.
 */
export type PassphraseSource = (request: { purpose: string; attempt: number }) => Promise<string | null>

export interface Context {
  /** the keyrack root: KEYRACK_HOME or ~/.rhachet/keyrack */
  home: string
  owner: string
  env: Env
  cwd: string
  now: () => number
  /** how to ask for a passphrase; absent = nobody can be asked (robots, plain `get`) */
  passphrase?: PassphraseSource
}

export interface ContextOptions {
  owner?: string
  home?: string
  cwd?: string
  /**
   * The environment variables to act in (default: process.env). In get/set/exec/del/unlock
   * `env` is the keyrack env name (`env: 'test'`), so pass the variables as `environment` there;
   * an object given as `env` (e.g. to list/status) is taken as the variables too.
   */
  environment?: Env
  env?: Env | string
  now?: () => number
  /** how to ask for a passphrase; a boolean is init's protect-or-not choice, never a source */
  passphrase?: PassphraseSource | boolean
}

export function createContext(options: ContextOptions = {}): Context {
  // `env` is also the keyrack env name of get/set/exec (a string): never mistake it for the variables
  const env = options.environment ?? (typeof options.env === 'object' && options.env !== null ? options.env : undefined) ?? process.env
  const userHome = env.HOME || homedir()
  const home = options.home ?? env.KEYRACK_HOME ?? join(userHome, '.rhachet', 'keyrack')
  const owner = assertOwner(options.owner ?? env.KEYRACK_OWNER ?? DEFAULT_OWNER)
  return {
    home,
    owner,
    env,
    cwd: options.cwd ?? process.cwd(),
    now: options.now ?? Date.now,
    // init's `passphrase: true | false` (protect or not) shares the name: only a function is a source
    passphrase: typeof options.passphrase === 'function' ? options.passphrase : undefined,
  }
}

/** file locations of SPEC §4, in one place */
export const paths = {
  hostManifest: (ctx: Context): string => join(ctx.home, `host.${ctx.owner}.yml.age`),
  ownerConfig: (ctx: Context): string => join(ctx.home, `owner.${ctx.owner}.json`),
  direct: (ctx: Context): string => join(ctx.home, `direct.${ctx.owner}.json`),
  secureDir: (ctx: Context): string => join(ctx.home, 'secure', ctx.owner),
  lock: (ctx: Context): string => join(ctx.home, `.lock.${ctx.owner}`),
}
