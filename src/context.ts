/**
 * Context: everything a keyrack operation reads from its surroundings, read once and passed
 * down (no module reads process.env at import time), and the ports through which adapters reach
 * the world (src/ports.ts). The SDK builds one from its options; the CLI from the process; tests
 * from a temp HOME, swapping ports and registries (tests/fakes/ports.ts).
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { assertOwner, DEFAULT_OWNER } from './domain/names.ts'
import { builtinMechs, type MechRegistry } from './mechs/index.ts'
import type { Clock, Fetch, Prompt, Spawn } from './ports.ts'
import { builtinVaults, type VaultRegistry } from './vaults/index.ts'

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
  /** the clock port */
  now: Clock
  /**
   * the platform port: which OS keyrack acts on (`process.platform` names). Adapters that differ
   * per OS (the keychain) choose by it, so a test selects the macOS path the way the product does
   */
  platform: NodeJS.Platform
  /** how to ask for a passphrase; absent = nobody can be asked (robots, plain `get`) */
  passphrase?: PassphraseSource
  /** runs external tools (secrets on stdin only, with a timeout) */
  spawn: Spawn
  fetch: Fetch
  /** a human at a terminal; absent = nobody can be asked, so input must come from flags or stdin */
  prompt?: Prompt
  /** the vault and mech registries: the only place ids map to adapters */
  vaults: VaultRegistry
  mechs: MechRegistry
  /**
   * what the audit log records this operation as (`exec`, `source`, `mcp.keyrack_exec`, with
   * details); absent, each SDK operation names itself
   */
  audit?: AuditTag
}

export interface AuditTag {
  command: string
  details?: Record<string, string | number | boolean | null>
  /** filled by the daemon lookup: the slugs the daemon itself wrote an audit line for */
  daemonLogged?: Set<string>
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
  now?: Clock
  /** default: process.platform */
  platform?: NodeJS.Platform
  /** how to ask for a passphrase; a boolean is init's protect-or-not choice, never a source */
  passphrase?: PassphraseSource | boolean
  /** ports: default to the real ones (spawn on PATH, global fetch); no prompt unless given */
  spawn?: Spawn
  fetch?: Fetch
  prompt?: Prompt
  /** registries: default to the built-in vaults and mechs (an SDK host may add its own) */
  vaults?: VaultRegistry
  mechs?: MechRegistry
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
    platform: options.platform ?? process.platform,
    // init's `passphrase: true | false` (protect or not) shares the name: only a function is a source
    passphrase: typeof options.passphrase === 'function' ? options.passphrase : undefined,
    // the spawn adapter loads on first use: most commands never run a tool
    spawn: options.spawn ?? ((request) => import('./runtime/spawn.ts').then((m) => m.spawnTool(request, env))),
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    prompt: options.prompt,
    vaults: options.vaults ?? builtinVaults,
    mechs: options.mechs ?? builtinMechs,
  }
}

/** file locations of SPEC §4, in one place */
export const paths = {
  hostManifest: (ctx: Context): string => join(ctx.home, `host.${ctx.owner}.yml.age`),
  /** value-free: which slugs exist and in which vault, readable without the identity */
  inventory: (ctx: Context): string => join(ctx.home, `inventory.${ctx.owner}.json`),
  ownerConfig: (ctx: Context): string => join(ctx.home, `owner.${ctx.owner}.json`),
  direct: (ctx: Context): string => join(ctx.home, `direct.${ctx.owner}.json`),
  secureDir: (ctx: Context): string => join(ctx.home, 'secure', ctx.owner),
  lock: (ctx: Context): string => join(ctx.home, `.lock.${ctx.owner}`),
}
