/**
 * The audit log's hash chain (src/audit/log.ts): appends link each line to the one before, across
 * rotations; verify finds edits, reorderings, removals and lines cut off either end; concurrent
 * writers never break the chain.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { appendAudit, auditFiles, GENESIS, KEEP_ROTATED, lineHash, logFiles, verifyAudit, type AuditInput } from '../../src/audit/log.ts'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'kr-audit-'))
  dirs.push(dir)
  return auditFiles(dir, 'human')
}
const input = (n: number): AuditInput => ({
  owner: 'human',
  via: 'cli',
  command: 'get',
  worksite: '/repo',
  env: 'test',
  slugs: [`acme.test.KEY_${n}`],
  outcome: 'granted',
  caller: { pid: 100 + n, exe: '/usr/bin/keyrack', chain: [{ pid: 1, exe: '/bin/bash', name: 'bash' }] },
})
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean)
const problems = (files: ReturnType<typeof auditFiles>) => verifyAudit(files).problems.map((p) => p.problem).join('\n')

describe('append', () => {
  test('each line carries seq and the hash of the line before; the first, 64 zeros', () => {
    const files = fresh()
    for (let n = 1; n <= 3; n++) appendAudit(files, input(n))
    const [a, b, c] = lines(files.log).map((l) => JSON.parse(l))
    expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 3])
    expect(a.prev).toBe(GENESIS)
    expect(b.prev).toBe(lineHash(lines(files.log)[0]!))
    expect(JSON.parse(readFileSync(files.head, 'utf8'))).toEqual({ seq: 3, hash: lineHash(lines(files.log)[2]!) })
    expect(verifyAudit(files)).toMatchObject({ ok: true, lines: 3, firstSeq: 1, lastSeq: 3 })
  })

  test('the log is 0600', () => {
    const files = fresh()
    appendAudit(files, input(1))
    const { statSync } = require('node:fs') as typeof import('node:fs')
    expect(statSync(files.log).mode & 0o777).toBe(0o600)
  })

  test('a log, head or rotated file that is a FIFO, a symlink or writable by others is refused, not read or written', () => {
    const { chmodSync, symlinkSync } = require('node:fs') as typeof import('node:fs')
    const unsafe = /the audit file .* (is not a regular file|is writable by everyone); keyrack neither reads nor appends to it/
    // a FIFO would block a plain open for ever: refused at once
    const fifo = fresh()
    expect(spawnSync('mkfifo', [fifo.log]).status).toBe(0)
    expect(() => appendAudit(fifo, input(1))).toThrow(unsafe)
    expect(() => verifyAudit(fifo)).toThrow(unsafe)
    // a symlink: O_NOFOLLOW, the file it points to is untouched
    const link = fresh()
    const target = join(resolve(link.log, '..'), 'elsewhere')
    writeFileSync(target, 'mine\n')
    symlinkSync(target, link.log)
    expect(() => appendAudit(link, input(1))).toThrow()
    expect(readFileSync(target, 'utf8')).toBe('mine\n')
    // writable by everyone: anyone could have planted lines
    const open = fresh()
    appendAudit(open, input(1))
    chmodSync(open.head, 0o666)
    expect(() => appendAudit(open, input(2))).toThrow(unsafe)
    expect(() => verifyAudit(open)).toThrow(unsafe)
    expect(lines(open.log)).toHaveLength(1)
  })

  test('rotation keeps the chain: the first line of a new file follows the last of the old', () => {
    const files = fresh()
    for (let n = 1; n <= 12; n++) appendAudit(files, input(n), { rotateBytes: 700 })
    expect(logFiles(files).length).toBeGreaterThan(2)
    const firstOfCurrent = JSON.parse(lines(files.log)[0]!)
    expect(firstOfCurrent.prev).toBe(lineHash(lines(files.rotated(1)).at(-1)!))
    expect(verifyAudit(files)).toMatchObject({ ok: true, lastSeq: 12 })
  })

  test('old files beyond the kept ones go; the log then starts later, and verify accepts that', () => {
    const files = fresh()
    for (let n = 1; n <= 40; n++) appendAudit(files, input(n), { rotateBytes: 400 })
    expect(logFiles(files).length).toBe(KEEP_ROTATED + 1)
    const result = verifyAudit(files)
    expect(result.ok).toBe(true)
    expect(result.firstSeq).toBeGreaterThan(1)
  })

  test('concurrent writers (4 processes × 25 lines) never break the chain', () => {
    const files = fresh()
    const script = `import { appendAudit, auditFiles } from ${JSON.stringify(resolve(import.meta.dir, '../../src/audit/log.ts'))}
const files = auditFiles(process.argv[2], 'human')
for (let i = 0; i < 25; i++) appendAudit(files, { owner: 'human', via: 'cli', command: 'get', worksite: null, slugs: [], outcome: 'ok', caller: { pid: process.pid, exe: null, chain: [] } })`
    const file = join(resolve(files.log, '..'), 'writer.ts')
    writeFileSync(file, script)
    const procs = Array.from({ length: 4 }, () => Bun.spawn([process.execPath, file, resolve(files.log, '..')], { stdout: 'ignore', stderr: 'inherit' }))
    return Promise.all(procs.map((p) => p.exited)).then((codes) => {
      expect(codes).toEqual([0, 0, 0, 0])
      expect(verifyAudit(files)).toMatchObject({ ok: true, lines: 100, lastSeq: 100 })
    })
  })
})

describe('verify finds tampering', () => {
  const written = () => {
    const files = fresh()
    for (let n = 1; n <= 5; n++) appendAudit(files, input(n))
    return { files, original: lines(files.log) }
  }
  const rewrite = (files: ReturnType<typeof auditFiles>, ls: string[]) => writeFileSync(files.log, ls.map((l) => `${l}\n`).join(''))

  test('an edited line (the outcome changed)', () => {
    const { files, original } = written()
    rewrite(files, original.map((l, i) => (i === 2 ? l.replace('"granted"', '"refused"') : l)))
    expect(problems(files)).toContain('seq 4 does not follow the line before it')
  })

  test('two lines swapped', () => {
    const { files, original } = written()
    rewrite(files, [original[0]!, original[2]!, original[1]!, original[3]!, original[4]!])
    expect(verifyAudit(files).ok).toBe(false)
  })

  test('a line removed from the middle', () => {
    const { files, original } = written()
    rewrite(files, original.filter((_, i) => i !== 2))
    expect(problems(files)).toContain('does not follow the line before it')
  })

  test('lines cut off the end', () => {
    const { files, original } = written()
    rewrite(files, original.slice(0, 3))
    expect(problems(files)).toContain('the log ends at seq 3, but seq 5 was written')
  })

  test('lines cut off the start', () => {
    const { files, original } = written()
    rewrite(files, original.slice(2))
    expect(problems(files)).toContain('the log starts at seq 3: lines before it were removed')
  })

  test('a line that is not JSON, and a missing head', () => {
    const { files, original } = written()
    rewrite(files, [...original.slice(0, 4), 'hello'])
    expect(problems(files)).toContain('not an audit line')
    unlinkSync(files.head)
    expect(problems(files)).toContain('the head file is missing')
  })

  test('a whole rotated file removed', () => {
    const files = fresh()
    for (let n = 1; n <= 12; n++) appendAudit(files, input(n), { rotateBytes: 700 })
    unlinkSync(logFiles(files)[0]!)
    expect(problems(files)).toContain('lines before it were removed')
  })

  test('an edit inside a rotated file', () => {
    const files = fresh()
    for (let n = 1; n <= 12; n++) appendAudit(files, input(n), { rotateBytes: 700 })
    const rotated = files.rotated(1)
    writeFileSync(rotated, readFileSync(rotated, 'utf8').replace('KEY_', 'KEZ_'))
    expect(verifyAudit(files).ok).toBe(false)
  })
})
