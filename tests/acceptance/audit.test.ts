/**
 * The audit log through the compiled binary: every get, exec, source, unlock, relock, set and del,
 * and every refusal, is one line with the caller's process chain — written by the daemon (with the
 * peer it sees on its socket) for what it hands out, by the command otherwise; `keyrack audit`
 * filters, prints JSON, follows and verifies; no line holds a secret in any form.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ensureBinary, Sandbox } from '../helpers/harness.ts'

setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const SECURE = ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA']
const DIRECT = ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']
const S = { alpha: `kr-audit-alpha-${crypto.randomUUID()}`, beta: `kr-audit-beta-${crypto.randomUUID()}` }
const MANIFEST = 'org: acme\nenv.test:\n  - ALPHA\n  - BETA\nenv.prod:\n  - PROD_ONLY\n'

interface Entry {
  seq: number
  via: string
  command: string
  slugs: string[]
  outcome: string
  reason: string | null
  env: string | null
  worksite: string | null
  caller: { pid: number | null; exe: string | null; chain: { pid: number; exe: string | null; name: string | null }[] }
  details?: Record<string, unknown>
}

describe('keyrack audit', () => {
  const sb = new Sandbox('kr-audit')
  afterAll(() => sb.cleanup())
  const entries = (): Entry[] => JSON.parse(sb.run(['audit', '--json']).stdout)
  const last = () => entries().at(-1)!

  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })

  test('set and del are recorded, with the slug and never the secret', () => {
    expect(sb.set('ALPHA', 'test', S.alpha, SECURE).code).toBe(0)
    expect(last()).toMatchObject({ via: 'cli', command: 'set', slugs: ['acme.test.ALPHA'], outcome: 'ok', worksite: sb.repo })
    expect(sb.set('BETA', 'test', S.beta, DIRECT).code).toBe(0)
    expect(sb.set('TEMP', 'test', 'temporary-secret-value', DIRECT).code).toBe(0)
    expect(sb.run(['del', '--key', 'TEMP', '--env', 'test']).code).toBe(0)
    expect(last()).toMatchObject({ command: 'del', slugs: ['acme.test.TEMP'], outcome: 'ok' })
  })

  test('a get served without the daemon: one line by the command, whose caller chain includes this test', () => {
    // ALPHA lives in os.secure under an unprotected identity: read directly, no daemon
    const r = sb.run(['get', '--for', 'repo', '--env', 'test'])
    expect(r.code).toBe(0)
    const e = last()
    expect(e).toMatchObject({ via: 'cli', command: 'get', env: 'test', slugs: ['acme.test.ALPHA', 'acme.test.BETA'], outcome: 'granted' })
    expect(e.caller.exe).toEndWith('keyrack')
    expect(e.caller.chain.map((l) => l.pid)).toContain(process.pid)
  })

  test('refusals: not allowlisted, absent, blocked by the firewall — each with its reason', () => {
    expect(sb.run(['get', '--key', 'NOT_LISTED', '--env', 'test']).code).toBe(3)
    expect(last()).toMatchObject({ command: 'get', outcome: 'refused', slugs: ['NOT_LISTED'] })
    expect(last().reason).toContain('not allowlisted')
    expect(sb.run(['get', '--for', 'repo', '--env', 'prod']).code).toBe(4)
    expect(last()).toMatchObject({ command: 'get', outcome: 'refused', slugs: ['acme.prod.PROD_ONLY'] })
    // a long-lived GitHub token in the environment, where the repo wants it from keyrack
    const pat = `ghp_${'a1B2c3D4e5'.repeat(3)}123456`
    sb.writeRepoManifest(`${MANIFEST}env.ci:\n  - GH_TOKEN\n`)
    expect(sb.run(['get', '--for', 'repo', '--env', 'ci'], { env: { GH_TOKEN: pat } }).code).toBe(5)
    expect(last()).toMatchObject({ command: 'get', outcome: 'refused', slugs: ['acme.ci.GH_TOKEN'] })
    expect(last().reason).toContain('blocked')
    sb.writeRepoManifest(MANIFEST)
    expect(JSON.stringify(entries())).not.toContain(pat)
  })

  test('with the daemon up, the daemon writes the line, naming the process at the other end of its socket', () => {
    expect(sb.run(['unlock', '--for', 'repo', '--env', 'test']).code).toBe(0)
    expect(last()).toMatchObject({ via: 'cli', command: 'unlock', slugs: ['acme.test.ALPHA'], outcome: 'ok' })
    const { proc, done } = sb.spawn(['get', '--key', 'ALPHA', '--env', 'test', '--output', 'value'])
    return done.then((r) => {
      expect(r.stdout).toBe(`${S.alpha}\n`)
      const e = last()
      expect(e).toMatchObject({ via: 'daemon', command: 'get', slugs: ['acme.test.ALPHA'], outcome: 'granted', worksite: sb.repo })
      // the peer's pid, from the kernel's credentials for the socket: the get process itself
      expect(e.caller.pid).toBe(proc.pid)
      expect(e.caller.exe).toEndWith('keyrack')
      expect(e.caller.chain.map((l) => l.pid)).toContain(process.pid)
    })
  })

  test('exec and source are recorded as themselves; exec names its program (not its arguments) and the redaction', () => {
    expect(sb.run(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'exit 0'], { env: { CLAUDECODE: '1' } }).code).toBe(0)
    const execs = entries().filter((e) => e.command === 'exec')
    expect(execs.at(-1)).toMatchObject({ slugs: ['acme.test.ALPHA', 'acme.test.BETA'], outcome: 'granted', details: { program: 'sh', redacted: true } })
    expect(JSON.stringify(execs)).not.toContain('exit 0')
    expect(sb.run(['source', '--env', 'test']).code).toBe(0)
    expect(entries().filter((e) => e.command === 'source').length).toBeGreaterThan(0)
  })

  test('relock is recorded', () => {
    expect(sb.run(['relock']).code).toBe(0)
    expect(last()).toMatchObject({ command: 'relock', outcome: 'ok', details: { removed: 1, remaining: 0 } })
  })

  test('the table, --key and --since', () => {
    const table = sb.run(['audit'])
    expect(table.stdout.split('\n')[0]).toMatch(/^TIME\s+COMMAND\s+OUTCOME\s+KEYS\s+CALLER\s+REASON$/)
    expect(table.stdout).toContain('keyrack ← ')
    const beta = JSON.parse(sb.run(['audit', '--key', 'BETA', '--json']).stdout) as Entry[]
    expect(beta.length).toBeGreaterThan(0)
    expect(beta.every((e) => e.slugs.some((s) => s.endsWith('.BETA')))).toBe(true)
    expect(JSON.parse(sb.run(['audit', '--since', '1h', '--json']).stdout).length).toBe(entries().length)
    expect(sb.run(['audit', '--since', 'soon']).code).toBe(2)
  })

  test('--follow prints lines as they are written', async () => {
    const before = entries().length
    const proc = Bun.spawn([BIN, 'audit', '--follow', '--json'], { cwd: sb.repo, env: sb.env(), stdout: 'pipe', stderr: 'ignore' })
    const reader = proc.stdout.getReader()
    await Bun.sleep(500)
    expect(sb.run(['get', '--key', 'BETA', '--env', 'test']).code).toBe(0)
    let seen = ''
    // the lines already there come first, then the new one
    for (let i = 0; i < 40 && seen.split('\n').length <= before + 1; i++) {
      const chunk = await Promise.race([reader.read(), Bun.sleep(250).then(() => null)])
      if (chunk && chunk.value) seen += new TextDecoder().decode(chunk.value)
    }
    proc.kill('SIGINT')
    reader.releaseLock()
    await proc.exited
    const lines = seen.trim().split('\n').map((l) => JSON.parse(l) as Entry)
    expect(lines.length).toBe(before + 1)
    expect(lines.at(-1)).toMatchObject({ command: 'get', slugs: ['acme.test.BETA'] })
  })

  test('no audit file holds a secret: not raw, encoded, nor its hash', () => {
    const text = ['audit.human.jsonl', 'audit.human.head'].map((f) => readFileSync(join(sb.keyrackHome, f), 'utf8')).join('\n')
    for (const secret of [S.alpha, S.beta, 'temporary-secret-value'])
      for (const form of [
        secret,
        Buffer.from(secret).toString('base64'),
        Buffer.from(secret).toString('hex'),
        createHash('sha256').update(secret).digest('hex'),
        createHash('sha1').update(secret).digest('hex'),
        createHash('md5').update(secret).digest('hex'),
      ])
        expect(text.includes(form)).toBe(false)
  })

  test('--verify: intact, then an edited line (exit 11, naming the line)', () => {
    const ok = sb.run(['audit', '--verify'])
    expect(ok.code).toBe(0)
    expect(ok.stderr).toMatch(/keyrack: audit log verified: \d+ lines, seq 1–\d+, 1 file/)
    const log = join(sb.keyrackHome, 'audit.human.jsonl')
    const original = readFileSync(log, 'utf8')
    writeFileSync(log, original.replace('"outcome":"refused"', '"outcome":"granted"'))
    const bad = sb.run(['audit', '--verify'])
    expect(bad.code).toBe(11)
    expect(bad.stderr).toContain("keyrack: error: the audit log of owner 'human' is not the one keyrack wrote")
    expect(bad.stderr).toMatch(/audit\.human\.jsonl:\d+: seq \d+ does not follow the line before it/)
    writeFileSync(log, original.split('\n').slice(0, -3).join('\n') + '\n')
    expect(sb.run(['audit', '--verify']).stderr).toContain('lines were cut off the end')
    writeFileSync(log, original)
  })

  test('rotation by size keeps the chain verifiable across files', () => {
    const env = { KEYRACK_AUDIT_ROTATE_BYTES: '2000' }
    for (let i = 0; i < 6; i++) expect(sb.run(['get', '--key', 'BETA', '--env', 'test'], { env }).code).toBe(0)
    expect(sb.files(sb.keyrackHome).some((f) => f.endsWith('audit.human.1.jsonl'))).toBe(true)
    const r = sb.run(['audit', '--verify'])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/files?/)
  })
})
