/**
 * Unlock across vaults (issue 10): `keyrack unlock --for repo` of 30 keys spread over the vaults
 * that have their own lock or none — os.secure, os.keychain and 1password — against the fakes,
 * beside a reference measured in the same run: `op read` called once per 1Password key, one after
 * another (what a script that reads each key itself pays), and one `op read`.
 *
 *   npm run bench                                  (runs bench/run.ts, then this)
 *   bun run bench/unlock-vaults.ts [--iterations N] [--bin PATH]
 *
 * The human's part is left out: the fake `op` is already signed in (as after `eval "$(op signin)"`)
 * and the identity has no passphrase, so what is timed is keyrack's own work plus the tools'. The
 * fake op is a Bun script (tests/fakes/op.ts): each of its calls costs a Bun start, which is what the
 * reference measures too. os.keychain joins when this build has it and a Secret Service can run
 * here (tests/helpers/secret-service.ts); otherwise its 10 keys go to os.secure and the table says so.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { installFakeOp } from '../tests/fakes/op.ts'

const ROOT = resolve(import.meta.dir, '..')
const PER_VAULT = 10

const { values: opts } = parseArgs({ args: process.argv.slice(2), options: { iterations: { type: 'string', short: 'n' }, bin: { type: 'string' } }, strict: true })
const N = Number(opts.iterations ?? 15)
if (!Number.isInteger(N) || N < 3) {
  console.error('usage: bun run bench/unlock-vaults.ts [--iterations N (>= 3)] [--bin PATH]')
  process.exit(2)
}
const BIN = opts.bin ? resolve(opts.bin) : join(ROOT, 'dist', 'keyrack')
const log = (line: string) => process.stderr.write(`bench: ${line}\n`)
const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`

interface Stats {
  median: number
  p90: number
}
function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
  return { median: at(0.5), p90: at(0.9) }
}

const dir = mkdtempSync(join(tmpdir(), 'keyrack-bench-vaults-'))
const stops: (() => Promise<void> | void)[] = []
let cleaned = false
async function cleanup(): Promise<void> {
  if (cleaned) return
  cleaned = true
  for (const stop of stops.reverse())
    try {
      await stop()
    } catch {}
  rmSync(dir, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void cleanup().then(() => process.exit(130)))

function run(cmd: string[], env: Record<string, string>, options: { cwd?: string; input?: string } = {}): { code: number; stdout: string; stderr: string; ms: number } {
  const t0 = performance.now()
  const r = Bun.spawnSync({ cmd, cwd: options.cwd ?? dir, env, stdin: options.input === undefined ? 'ignore' : new TextEncoder().encode(options.input), stdout: 'pipe', stderr: 'pipe' })
  return { code: r.exitCode ?? 128, stdout: r.stdout.toString(), stderr: r.stderr.toString(), ms: performance.now() - t0 }
}
function must<T extends { code: number; stderr: string }>(r: T, what: string): T {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}`)
  return r
}

/** the keychain vault, when this build has it and a Secret Service can be started here */
async function keychain(home: string, runtimeDir: string): Promise<{ env: Record<string, string>; stop: () => Promise<void> } | string> {
  const { builtinVaults } = await import('../src/vaults/index.ts')
  if (!builtinVaults.ids.includes('os.keychain')) return 'os.keychain is not in this build'
  const helper = join(ROOT, 'tests', 'helpers', 'secret-service.ts')
  if (!existsSync(helper)) return 'no Secret Service helper (tests/helpers/secret-service.ts)'
  const { secretServiceMissing, startSecretService } = await import(helper)
  const missing = secretServiceMissing?.()
  if (missing) return `no Secret Service here: ${missing}`
  const service = await startSecretService({ dir, home, runtimeDir })
  return { env: service.env, stop: service.stop }
}

async function main(): Promise<void> {
  if (!existsSync(BIN)) throw new Error(`no keyrack binary at ${BIN}: run \`bun run build.ts --single\` first`)
  const home = join(dir, 'home')
  const runtimeDir = join(dir, 'run')
  const repo = join(dir, 'repo')
  mkdirSync(home, { recursive: true })
  mkdirSync(join(repo, '.agent'), { recursive: true })
  mkdirSync(runtimeDir, { mode: 0o700 })
  const op = installFakeOp(dir)
  const kc = await keychain(home, runtimeDir)
  if (typeof kc !== 'string') stops.push(kc.stop)
  const env: Record<string, string> = {
    PATH: `${op.binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: home,
    KEYRACK_HOME: join(dir, 'keyrack'),
    XDG_RUNTIME_DIR: runtimeDir,
    TMPDIR: dir,
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    ...op.env,
    ...op.signIn(),
    ...(typeof kc === 'string' ? {} : kc.env),
  }
  stops.push(() => void run([BIN, 'relock'], env, { cwd: repo }))
  must(run(['git', 'init', '-q'], env, { cwd: repo }), 'git init')

  const vaults = ['os.secure', typeof kc === 'string' ? 'os.secure' : 'os.keychain', '1password']
  const keys = vaults.flatMap((vault, v) => Array.from({ length: PER_VAULT }, (_, i) => ({ key: `BENCH_${['SECURE', 'KEYCHAIN', 'ONEPASSWORD'][v]}_${String(i + 1).padStart(2, '0')}`, vault })))
  writeFileSync(join(repo, '.agent', 'keyrack.yml'), `org: bench\nenv.test:\n${keys.map((k) => `  - ${k.key}\n`).join('')}`)
  must(run([BIN, 'init', '--no-passphrase'], env, { cwd: repo }), 'keyrack init')
  log(`setting ${keys.length} keys (${vaults.join(', ')})`)
  for (const { key, vault } of keys)
    must(run([BIN, 'set', '--key', key, '--env', 'test', '--vault', vault, '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], env, { cwd: repo, input: `bench-${key}-0123456789abcdef` }), `set ${key}`)
  const references = op.state().items.map((i) => `op://${i.vault.name}/${i.id}/credential`)

  const unlock = [BIN, 'unlock', '--for', 'repo', '--env', 'test']
  const check = must(run(unlock, env, { cwd: repo }), 'keyrack unlock')
  const unlocked = check.stderr.split('\n').filter((l) => l.startsWith('keyrack: unlocked ')).length
  if (unlocked !== keys.length) throw new Error(`unlock unlocked ${unlocked} keys, not ${keys.length}:\n${check.stderr}`)
  const callsBefore = op.calls().length
  must(run(unlock, env, { cwd: repo }), 'keyrack unlock')
  const opCallsPerUnlock = op.calls().length - callsBefore

  log(`unlock x${N}, interleaved with op read x${references.length} in a row, and op read x1`)
  const samples = { unlock: [] as number[], reads: [] as number[], read: [] as number[] }
  for (let i = -2; i < N; i++) {
    const u = must(run(unlock, env, { cwd: repo }), 'keyrack unlock').ms
    const t0 = performance.now()
    for (const ref of references) must(run(['op', 'read', '--no-newline', ref], env), 'op read')
    const reads = performance.now() - t0
    const one = must(run(['op', 'read', '--no-newline', references[0]!], env), 'op read').ms
    if (i < 0) continue
    samples.unlock.push(u)
    samples.reads.push(reads)
    samples.read.push(one)
  }
  const u = stats(samples.unlock)
  const reads = stats(samples.reads)
  const read = stats(samples.read)
  const mix = vaults.map((v, i) => (i === 1 && typeof kc === 'string' ? `${PER_VAULT} os.secure (for os.keychain)` : `${PER_VAULT} ${v}`)).join(' + ')
  const rows = [
    ['measurement (median)', 'value', 'p90'],
    [`unlock --for repo, ${keys.length} keys: ${mix}`, ms(u.median), ms(u.p90)],
    [`reference: op read of the ${references.length} 1Password keys, one call each, in a row`, ms(reads.median), ms(reads.p90)],
    ['reference: one op read (the fake op: a Bun process)', ms(read.median), ms(read.p90)],
    ['op calls per unlock (whoami, then the reads, 4 at a time)', String(opCallsPerUnlock), ''],
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  const out = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd())
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  out.push('', `notes: ${typeof kc === 'string' ? `os.keychain left out (${kc}); ` : ''}the fake op is signed in and the identity has no passphrase (no human time);`)
  out.push(`  load average ${(await Bun.file('/proc/loadavg').text().catch(() => 'n/a')).split(' ').slice(0, 3).join(' ')} on ${navigator.hardwareConcurrency} CPUs`)
  console.log(out.join('\n'))
  const resultsDir = join(import.meta.dir, 'results')
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(
    join(resultsDir, 'unlock-vaults.json'),
    `${JSON.stringify({ date: new Date().toISOString(), iterations: N, vaults: mix, keychain: typeof kc === 'string' ? kc : 'os.keychain', unlock: u, opReadEach: reads, opReadOne: read, opCallsPerUnlock }, null, 2)}\n`,
  )
}

try {
  await main()
} catch (error) {
  console.error(`bench: error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exitCode = 1
} finally {
  await cleanup()
}
