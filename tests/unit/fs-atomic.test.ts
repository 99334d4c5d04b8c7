/**
 * Atomic writes prove what they claim (issue 8): the suite used to pass with writeFileAtomic
 * writing in place and with both fsyncs removed. Here an fs port records every operation and the
 * test checks the order — temp opened O_CREAT|O_EXCL beside the target, written, fsynced, closed,
 * renamed over the target, then the directory fsynced — and that the target itself is never
 * opened for writing. A crash test SIGKILLs a writer process again and again and only ever finds
 * the old or the new file. A full disk says so and leaves the old file and no temp behind.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { KeyrackNoSpaceError } from '../../src/domain/errors.ts'
import { nodeFs, writeFileAtomic, type AtomicFs } from '../../src/runtime/fs-atomic.ts'

const dir = mkdtempSync(join(tmpdir(), 'keyrack-atomic-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

type Op =
  | { op: 'open'; path: string; flags: number; fd: number }
  | { op: 'write'; fd: number; bytes: number }
  | { op: 'fsync' | 'close'; fd: number }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }

/** node:fs, recording each call; `fail` makes one operation throw as the kernel would */
function recorder(fail?: { op: Op['op']; code: string; nth?: number }): AtomicFs & { ops: Op[] } {
  const ops: Op[] = []
  let seen = 0
  const maybeFail = (op: Op['op']) => {
    if (fail?.op !== op) return
    if (++seen !== (fail.nth ?? 1)) return
    throw Object.assign(new Error(`${op} failed`), { code: fail.code })
  }
  return {
    ops,
    open(path, flags, mode) {
      maybeFail('open')
      const fd = nodeFs.open(path, flags, mode)
      ops.push({ op: 'open', path, flags, fd })
      return fd
    },
    write(fd, bytes, offset, length) {
      maybeFail('write')
      const n = nodeFs.write(fd, bytes, offset, length)
      ops.push({ op: 'write', fd, bytes: n })
      return n
    },
    fsync(fd) {
      maybeFail('fsync')
      nodeFs.fsync(fd)
      ops.push({ op: 'fsync', fd })
    },
    close(fd) {
      nodeFs.close(fd)
      ops.push({ op: 'close', fd })
    },
    rename(from, to) {
      maybeFail('rename')
      nodeFs.rename(from, to)
      ops.push({ op: 'rename', from, to })
    },
    unlink(path) {
      nodeFs.unlink(path)
      ops.push({ op: 'unlink', path })
    },
  }
}

const leftovers = (d: string, target: string) => readdirSync(d).filter((name) => name !== target.slice(d.length + 1))

describe('writeFileAtomic: the order of operations', () => {
  test('temp beside the target (O_CREAT|O_EXCL) → write → fsync → close → rename → fsync the directory; the target is never opened', () => {
    const target = join(dir, 'order.json')
    writeFileSync(target, 'old')
    const data = Buffer.alloc(200_000, 'n')
    const fs = recorder()
    writeFileAtomic(target, data, 0o600, { fs })

    const [open, ...rest] = fs.ops
    expect(open).toMatchObject({ op: 'open' })
    const temp = (open as Extract<Op, { op: 'open' }>).path
    const fd = (open as Extract<Op, { op: 'open' }>).fd
    expect(temp).not.toBe(target)
    expect(dirname(temp)).toBe(dirname(target))
    const flags = (open as Extract<Op, { op: 'open' }>).flags
    expect(flags & constants.O_CREAT).toBe(constants.O_CREAT)
    expect(flags & constants.O_EXCL).toBe(constants.O_EXCL)
    expect(flags & constants.O_WRONLY).toBe(constants.O_WRONLY)
    expect(flags & constants.O_TRUNC).toBe(0)

    const writes = rest.filter((o) => o.op === 'write')
    expect(writes.every((w) => w.fd === fd)).toBe(true)
    expect(writes.reduce((n, w) => n + (w as { bytes: number }).bytes, 0)).toBe(data.length)
    // name each operation by what it touches (an fd number is reused once closed)
    const names = new Map<number, string>([[fd, 'temp']])
    const sequence = rest.flatMap((o): string[] => {
      if (o.op === 'write') return []
      if (o.op === 'open') {
        names.set(o.fd, o.path === dir ? 'dir' : o.path)
        return [`open ${names.get(o.fd)}`]
      }
      if (o.op === 'rename') return [`rename ${o.from === temp ? 'temp' : o.from} → ${o.to === target ? 'target' : o.to}`]
      if (o.op === 'unlink') return [`unlink ${o.path}`]
      return [`${o.op} ${names.get(o.fd)}`]
    })
    expect(sequence).toEqual(['fsync temp', 'close temp', 'rename temp → target', 'open dir', 'fsync dir', 'close dir'])
    // every write comes before the temp's fsync
    expect(fs.ops.findLastIndex((o) => o.op === 'write')).toBeLessThan(fs.ops.findIndex((o) => o.op === 'fsync'))
    // nothing ever opened the target itself
    expect(fs.ops.some((o) => o.op === 'open' && o.path === target)).toBe(false)

    expect(readFileSync(target).equals(data)).toBe(true)
    expect(statSync(target).mode & 0o777).toBe(0o600)
    expect(leftovers(dir, target).filter((n) => n.startsWith('.order.json'))).toEqual([])
  })

  test('a full disk (ENOSPC at write, or at open) says "no space left on <dir>"; the old file stays byte-identical, no temp is left', () => {
    const target = join(dir, 'full.json')
    writeFileSync(target, 'the old manifest')
    for (const fail of [{ op: 'write', code: 'ENOSPC' }, { op: 'open', code: 'ENOSPC' }, { op: 'fsync', code: 'EDQUOT' }] as const) {
      const attempt = () => writeFileAtomic(target, Buffer.alloc(10_000, 'x'), 0o600, { fs: recorder(fail) })
      expect(attempt).toThrow(KeyrackNoSpaceError)
      expect(attempt).toThrow(`no space left on ${dir}: nothing was changed`)
      expect(readFileSync(target, 'utf8')).toBe('the old manifest')
      expect(leftovers(dir, target).filter((n) => n.startsWith('.full.json'))).toEqual([])
    }
  })

  test('an fsync or rename that fails (EIO) is passed on; the old file stays, no temp is left', () => {
    const target = join(dir, 'eio.json')
    writeFileSync(target, 'old')
    for (const op of ['fsync', 'rename'] as const) {
      expect(() => writeFileAtomic(target, 'new', 0o600, { fs: recorder({ op, code: 'EIO' }) })).toThrow(`${op} failed`)
      expect(readFileSync(target, 'utf8')).toBe('old')
      expect(leftovers(dir, target).filter((n) => n.startsWith('.eio.json'))).toEqual([])
    }
  })
})

describe('writeFileAtomic under SIGKILL', () => {
  test('a writer killed at random moments, 40 times: the target is always exactly the old or the new content', async () => {
    const size = 4 * 1024 * 1024
    const target = join(dir, 'crash.bin')
    const a = Buffer.alloc(size, 'A')
    const b = Buffer.alloc(size, 'B')
    writeFileSync(target, a)
    let midWrite = 0
    for (let i = 0; i < 40; i++) {
      const writer = Bun.spawn([process.execPath, join(import.meta.dir, 'fixtures', 'atomic-writer.ts'), target, String(size)], { stdout: 'pipe', stderr: 'inherit' })
      const reader = (writer.stdout as ReadableStream<Uint8Array>).getReader()
      await reader.read() // `writing`
      await Bun.sleep(Math.random() * 40)
      writer.kill('SIGKILL')
      await writer.exited
      expect(existsSync(target)).toBe(true)
      const now = readFileSync(target)
      expect({ i, length: now.length, whole: now.equals(a) || now.equals(b) }).toEqual({ i, length: size, whole: true })
      // a temp left behind means the kill landed mid-write: the case this test is about
      const temps = readdirSync(dir).filter((n) => n.startsWith('.crash.bin.tmp-'))
      if (temps.length > 0) midWrite++
      for (const t of temps) rmSync(join(dir, t))
    }
    // the kills did land during writes (not only between them)
    expect(midWrite).toBeGreaterThan(0)
  }, 120_000)
})
