/**
 * `keyrack/testing`: a throwaway keyrack for your own test suites (any runner: bun:test, vitest,
 * node:test, Deno.test). Everything lives in one temp directory — HOME, the keyrack home, a git
 * repo with `.agent/keyrack.yml`, and the daemon's runtime dir — so a test never touches your real
 * keyrack, and `cleanup()` stops the daemon it started and removes it all.
 *
 * It drives the real SDK (init, set, unlock, get, exec, relock): the keys go through the same
 * allowlist, firewall and vault code as in production. The owner's identity is unprotected (a test
 * has nobody to type a passphrase), which is exactly what `keyrack init --no-passphrase` does.
 *
 * @example
 * ```ts
 * import { createTestKeyrack, assertExactKeys } from 'keyrack/testing'
 *
 * const rack = await createTestKeyrack({
 *   allowlist: { test: ['XAI_API_KEY'], prod: ['PROD_DB_PASSWORD'] },
 *   keys: { 'test.XAI_API_KEY': 'xai-test-secret', 'prod.PROD_DB_PASSWORD': 'prod-secret' },
 * })
 * try {
 *   const seen = await rack.envSeenBy({ env: 'test' })      // what a command run by `keyrack exec` gets
 *   assertExactKeys(seen, rack, 'test', { XAI_API_KEY: 'xai-test-secret' })
 * } finally {
 *   await rack.cleanup()
 * }
 * ```
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Env } from '../context.ts'
import { DEFAULT_OWNER } from '../domain/names.ts'
import { keyrack, type KeyrackOptions } from '../sdk.ts'
import type { ExecResult } from '../sdk/exec.ts'
import type { GetInput, GetResult } from '../sdk/get.ts'
import type { UnlockResult } from '../sdk/unlock.ts'

/** where an SDK call acts: the throwaway keyrack's owner, home, repo and environment variables */
export type SdkOptions = Required<Pick<KeyrackOptions, 'owner' | 'home' | 'cwd' | 'environment'>>

export interface TestKeyrackOptions {
  /** the repo manifest's org (default `acme`) */
  org?: string
  /** the repo manifest's allowlist, env → keys, e.g. `{ test: ['XAI_API_KEY'] }`; or give `manifest` */
  allowlist?: Record<string, string[]>
  /** the whole `.agent/keyrack.yml` text, instead of `org` + `allowlist` */
  manifest?: string
  /** whose keyrack (default `human`) */
  owner?: string
  /**
   * keys to store, `'<env>.<KEY>'` → secret. Stored with PERMANENT_VIA_REPLICA in `vault`; the
   * firewall applies (a long-lived AKIA… key is refused, as in production)
   */
  keys?: Record<string, string>
  /**
   * where `keys` go: `os.direct` (default: plaintext file, read without unlock) or `os.secure`
   * (encrypted; `startDaemon()` unlocks them into the daemon's memory)
   */
  vault?: 'os.direct' | 'os.secure'
}

export interface TestKeyrack {
  /** the temp directory holding everything below */
  readonly dir: string
  readonly home: string
  readonly keyrackHome: string
  /** a git repo with `.agent/keyrack.yml`; the SDK calls act in it */
  readonly repo: string
  readonly owner: string
  /**
   * environment variables for a child process that should use this keyrack (HOME, KEYRACK_HOME,
   * KEYRACK_OWNER, XDG_RUNTIME_DIR, PATH), e.g. to run the `keyrack` binary in a test
   */
  readonly environment: Record<string, string>
  /** the SDK options that point at this keyrack: `keyrack.get({ ...rack.options, for: 'repo', env })` */
  readonly options: SdkOptions
  /** the keys the repo manifest allowlists for an env (its own and `env.all`'s) */
  allowlisted(env: string): string[]
  /** every key the repo manifest names, in any env */
  manifestKeys(): string[]
  /** stores one more key (round trip verified) */
  set(env: string, key: string, secret: string, vault?: 'os.direct' | 'os.secure'): Promise<void>
  /** `keyrack.get` in this keyrack (all or nothing; typed errors) */
  get(input: GetInput): Promise<GetResult>
  /** `keyrack exec --for repo --env <env> -- <command>` in this keyrack */
  exec(env: string, command: string[]): Promise<ExecResult>
  /**
   * runs a command through `keyrack exec --for repo --env <env>` and returns the environment it saw
   * (a small script of the current runtime prints it), for `assertExactKeys`
   */
  envSeenBy(input: { env: string }): Promise<Record<string, string>>
  /** starts the owner's daemon with the env's keys unlocked in memory (os.secure keys) */
  startDaemon(input: { env: string; duration?: string }): Promise<UnlockResult>
  /** relocks: the daemon forgets every key and exits */
  stopDaemon(): Promise<void>
  /** stops the daemon and removes the temp directory */
  cleanup(): Promise<void>
}

export async function createTestKeyrack(options: TestKeyrackOptions = {}): Promise<TestKeyrack> {
  const dir = mkdtempSync(join(tmpdir(), 'keyrack-test-'))
  const home = join(dir, 'home')
  const keyrackHome = join(home, '.rhachet', 'keyrack')
  const repo = join(dir, 'repo')
  const runtimeDir = join(dir, 'run')
  for (const d of [home, join(repo, '.git'), join(repo, '.agent')]) mkdirSync(d, { recursive: true })
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 })
  chmodSync(runtimeDir, 0o700)
  const owner = options.owner ?? DEFAULT_OWNER
  const manifest = options.manifest ?? renderManifest(options.org ?? 'acme', options.allowlist ?? { test: Object.keys(options.keys ?? {}).map((k) => k.slice(k.indexOf('.') + 1)) })
  writeFileSync(join(repo, '.agent', 'keyrack.yml'), manifest)

  const environment: Record<string, string> = {
    HOME: home,
    KEYRACK_HOME: keyrackHome,
    KEYRACK_OWNER: owner,
    XDG_RUNTIME_DIR: runtimeDir,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  }
  const sdkOptions: SdkOptions = { owner, home: keyrackHome, cwd: repo, environment: environment as Env }
  let daemonStarted = false

  const parsed = await import('../manifests/repo.ts').then((m) => m.readRepoManifest(repo))
  const { allowlistFor } = await import('../manifests/repo.ts')

  const rack: TestKeyrack = {
    dir, home, keyrackHome, repo, owner, environment, options: sdkOptions,
    allowlisted: (env) => allowlistFor(parsed, env).map((k) => k.key),
    manifestKeys: () => [...new Set([...parsed.envs.values()].flat().map((s) => s.key))],
    async set(env, key, secret, vault = options.vault ?? 'os.direct') {
      await keyrack.set({ ...sdkOptions, key, env, vault, mech: 'PERMANENT_VIA_REPLICA', secret })
    },
    get: (input) => keyrack.get({ ...sdkOptions, ...input }),
    exec: (env, command) => keyrack.exec({ ...sdkOptions, for: 'repo', env, command }),
    async envSeenBy({ env }) {
      const out = join(dir, `env-${Math.random().toString(36).slice(2)}.json`)
      const script = join(dir, 'print-env.mjs')
      writeFileSync(script, "import { writeFileSync } from 'node:fs'\nwriteFileSync(process.argv[process.argv.length - 1], JSON.stringify(process.env))\n")
      const deno = (globalThis as { Deno?: unknown }).Deno !== undefined
      const command = deno ? [process.execPath, 'run', '--allow-env', '--allow-write', script, out] : [process.execPath, script, out]
      const result = await rack.exec(env, command)
      if (result.exitCode !== 0) throw new Error(`the env printer exited ${result.exitCode}`)
      try {
        return JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>
      } finally {
        rmSync(out, { force: true })
      }
    },
    async startDaemon({ env, duration }) {
      daemonStarted = true
      return keyrack.unlock({ ...sdkOptions, for: 'repo', env, ...(duration ? { duration } : {}) })
    },
    async stopDaemon() {
      await keyrack.relock(sdkOptions)
      daemonStarted = false
    },
    async cleanup() {
      if (daemonStarted) await rack.stopDaemon().catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    },
  }

  try {
    await keyrack.init({ ...sdkOptions, via: 'age', passphrase: false })
    for (const [name, secret] of Object.entries(options.keys ?? {})) {
      // an env name never holds a dot; a key name may (rhachet's `aws.profile`)
      const dot = name.indexOf('.')
      if (dot < 0) throw new Error(`keys are named '<env>.<KEY>', e.g. 'test.XAI_API_KEY' (got '${name}')`)
      await rack.set(name.slice(0, dot), name.slice(dot + 1), secret)
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return rack
}

function renderManifest(org: string, allowlist: Record<string, string[]>): string {
  const sections = Object.entries(allowlist).map(([env, keys]) => `env.${env}:${keys.length === 0 ? ' []' : keys.map((k) => `\n  - ${k}`).join('')}\n`)
  return `org: ${org}\n${sections.join('')}`
}

/** what `assertExactKeys` found wrong: nothing when the command got exactly the expected keys */
export interface KeyDifference {
  /** allowlisted keys the command did not get */
  missing: string[]
  /** keys of the repo manifest that are not allowlisted for the env, yet reached the command */
  extra: string[]
  /** keys with another secret than expected (names only, never the secrets) */
  wrong: string[]
}

/**
 * Compares the environment a command saw with what the repo allowlists for `env`: every allowlisted
 * key present (with the expected secret, when given), and no other key the repo manifest names.
 */
export function diffKeys(seen: Record<string, string | undefined>, rack: TestKeyrack, env: string, expected: Record<string, string> = {}): KeyDifference {
  const allowed = new Set(rack.allowlisted(env))
  return {
    missing: [...allowed].filter((k) => seen[k] === undefined).sort(),
    extra: rack.manifestKeys().filter((k) => !allowed.has(k) && seen[k] !== undefined).sort(),
    wrong: Object.entries(expected).filter(([k, secret]) => seen[k] !== undefined && seen[k] !== secret).map(([k]) => k).sort(),
  }
}

/** throws (an Error any test runner reports) unless the command got exactly the allowlisted keys */
export function assertExactKeys(seen: Record<string, string | undefined>, rack: TestKeyrack, env: string, expected: Record<string, string> = {}): void {
  const d = diffKeys(seen, rack, env, expected)
  const problems = [
    d.missing.length ? `missing allowlisted keys: ${d.missing.join(', ')}` : '',
    d.extra.length ? `keys not allowlisted for env ${env}: ${d.extra.join(', ')}` : '',
    d.wrong.length ? `keys with another secret than expected: ${d.wrong.join(', ')}` : '',
  ].filter(Boolean)
  if (problems.length > 0) throw new Error(`the command did not get exactly the keys allowlisted for env ${env}: ${problems.join('; ')}`)
}
