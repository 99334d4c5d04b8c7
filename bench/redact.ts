/**
 * Redaction throughput (issue 12): `keyrack exec --redact` with 10 granted secrets over a 100 MB
 * stream, beside `cat` of the same stream measured in the same run. Not a test: it prints
 * numbers and PASS/MISS against the target (≥ 200 MB/s) and writes bench/results/redact.json.
 *
 *   bun run bench/redact.ts [--mb 100] [--runs 5] [--bin PATH]
 *
 * The stream is log-like text (words, numbers, JSON, URLs) with one of the secrets, or one of
 * its encodings (base64, hex, JSON-escaped, percent-encoded), planted every 64 KiB, so the
 * redactor both skips and replaces. Each figure is the median of --runs runs; every run reads
 * the child's whole output through a pipe into this process, as an agent harness would.
 *
 * Measured:
 *  1. in-process: the Redactor alone over the stream in 64 KiB chunks (src/redact)
 *  2. `keyrack exec --redact -- cat FILE` (child → pipe → keyrack → pipe → here)
 *  3. references: `cat FILE` (child → pipe → here), `sh -c 'cat FILE | cat'` (the same number of
 *     pipe hops as 2), and `keyrack exec --no-redact -- cat FILE` (keyrack's start + get, no redaction)
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Redactor } from '../src/redact/redactor.ts'

const ROOT = resolve(import.meta.dir, '..')
const { values: opts } = parseArgs({ args: process.argv.slice(2), options: { mb: { type: 'string' }, runs: { type: 'string' }, bin: { type: 'string' } }, strict: true })
const MB = Number(opts.mb ?? 100)
const RUNS = Number(opts.runs ?? 5)
const BIN = opts.bin ? resolve(opts.bin) : join(ROOT, 'dist', 'keyrack')
const TARGET = 200
const KEYS = 10
const log = (line: string) => process.stderr.write(`bench: ${line}\n`)

const dir = mkdtempSync(join(tmpdir(), 'keyrack-bench-redact-'))
const cleanup = () => rmSync(dir, { recursive: true, force: true })
process.on('SIGINT', () => {
  cleanup()
  process.exit(130)
})

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main(): Promise<void> {
  const home = join(dir, 'home')
  const repo = join(dir, 'repo')
  const runtimeDir = join(dir, 'run')
  for (const d of [home, repo]) mkdirSync(d, { recursive: true })
  mkdirSync(runtimeDir, { mode: 0o700 })
  chmodSync(runtimeDir, 0o700)
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_RUNTIME_DIR: runtimeDir, LANG: 'C.UTF-8', NO_COLOR: '1' }
  const keyrack = (args: string[], input?: string) => {
    const r = spawnSync(BIN, args, { cwd: repo, env, input, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`keyrack ${args.join(' ')} failed: ${r.stderr}`)
  }

  // 10 secrets shaped like API keys, stored in os.direct (no daemon needed)
  const secrets = Array.from({ length: KEYS }, (_, i) => ({ key: `KEY_${i}`, secret: `sk-bench-${i}-${randomBytes(18).toString('base64url')}` }))
  spawnSync('git', ['init', '-q'], { cwd: repo })
  mkdirSync(join(repo, '.agent'))
  writeFileSync(join(repo, '.agent', 'keyrack.yml'), `org: bench\nenv.test:\n${secrets.map((s) => `  - ${s.key}\n`).join('')}`)
  keyrack(['init', '--no-passphrase'])
  for (const { key, secret } of secrets) keyrack(['set', '--key', key, '--env', 'test', '--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], secret)

  // the stream
  log(`writing a ${MB} MB stream`)
  const words = 'GET POST /api/v1/users?page=2 200 404 INFO WARN debug request_id=7f3a latency_ms=12 {"ok":true,"n":42} the quick brown fox'.split(' ')
  const block = Buffer.alloc(64 * 1024)
  let text = ''
  for (let i = 0; text.length < block.length; i++) text += `${words[(i * 7919) % words.length]}${i % 11 === 0 ? '\n' : ' '}`
  block.write(text)
  const file = join(dir, 'stream.txt')
  const total = MB * 1024 * 1024
  const out = Buffer.alloc(total)
  const encodings = [(s: string) => s, (s: string) => Buffer.from(s).toString('base64'), (s: string) => Buffer.from(s).toString('hex'), (s: string) => JSON.stringify(s).slice(1, -1), encodeURIComponent]
  for (let offset = 0, n = 0; offset < total; offset += block.length, n++) {
    block.copy(out, offset, 0, Math.min(block.length, total - offset))
    const planted = encodings[n % encodings.length]!(secrets[n % KEYS]!.secret)
    if (offset + 1000 + planted.length < total) out.write(planted, offset + 1000)
  }
  writeFileSync(file, out)

  // 1. in-process
  const redactor = new Redactor(secrets)
  const inProcess: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const stream = redactor.stream()
    const t0 = performance.now()
    for (let offset = 0; offset < total; offset += 65536) stream.push(out.subarray(offset, offset + 65536))
    stream.end()
    inProcess.push(MB / ((performance.now() - t0) / 1000))
  }

  // 2 and 3: whole processes, their output read here through a pipe
  const throughput = async (argv: string[]): Promise<{ mbps: number; bytes: number }> => {
    const samples: number[] = []
    let bytes = 0
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now()
      const proc = Bun.spawn(argv, { cwd: repo, env, stdout: 'pipe', stderr: 'ignore' })
      bytes = 0
      for await (const chunk of proc.stdout) bytes += chunk.length
      if ((await proc.exited) !== 0) throw new Error(`${argv.join(' ')} failed`)
      samples.push(MB / ((performance.now() - t0) / 1000))
    }
    return { mbps: median(samples), bytes }
  }
  log('measuring')
  const cat = await throughput(['cat', file])
  const catCat = await throughput(['sh', '-c', `cat '${file}' | cat`])
  const plain = await throughput([BIN, 'exec', '--for', 'repo', '--env', 'test', '--no-redact', '--', 'cat', file])
  const redacted = await throughput([BIN, 'exec', '--for', 'repo', '--env', 'test', '--redact', '--', 'cat', file])
  if (redacted.bytes >= total) throw new Error('the redacted stream is not shorter: nothing was replaced')

  const rows = [
    ['Redactor in-process (64 KiB chunks)', median(inProcess)],
    ['keyrack exec --redact -- cat', redacted.mbps],
    ['cat (reference)', cat.mbps],
    ['cat | cat (reference: the same pipe hops as exec --redact)', catCat.mbps],
    ['keyrack exec --no-redact -- cat (reference)', plain.mbps],
  ] as const
  const width = Math.max(...rows.map((r) => r[0].length))
  const pass = redacted.mbps >= TARGET
  console.log(`redaction throughput, ${KEYS} secrets, ${MB} MB stream, median of ${RUNS}`)
  for (const [what, mbps] of rows) console.log(`${what.padEnd(width)}  ${mbps.toFixed(0).padStart(6)} MB/s`)
  console.log(`\ntarget: keyrack exec --redact ≥ ${TARGET} MB/s: ${pass ? 'PASS' : 'MISS'}`)
  mkdirSync(join(import.meta.dir, 'results'), { recursive: true })
  writeFileSync(
    join(import.meta.dir, 'results', 'redact.json'),
    `${JSON.stringify({ date: new Date().toISOString(), mb: MB, runs: RUNS, keys: KEYS, rows: Object.fromEntries(rows.map(([what, mbps]) => [what, Math.round(mbps)])), target: TARGET, pass }, null, 2)}\n`,
  )
}

try {
  await main()
} catch (error) {
  console.error(`bench: error: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
} finally {
  cleanup()
}
