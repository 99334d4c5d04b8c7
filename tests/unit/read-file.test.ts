import { afterAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFileGuarded, UnsafeFileError } from '../../src/runtime/read-file.ts'
import { skipFor } from '../helpers/skips.ts'

const dir = mkdtempSync(join(tmpdir(), 'keyrack-read-file-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const reasonOf = (fn: () => unknown): string => {
  try {
    fn()
  } catch (error) {
    if (error instanceof UnsafeFileError) return error.reason
    throw error
  }
  return 'read'
}

describe('readFileGuarded', () => {
  test('reads a regular file; a missing one is null', () => {
    const file = join(dir, 'ok.txt')
    writeFileSync(file, 'hello', { mode: 0o600 })
    expect(readFileGuarded(file, { maxBytes: 100, trusted: true })?.toString()).toBe('hello')
    expect(readFileGuarded(join(dir, 'missing'), { maxBytes: 100 })).toBeNull()
  })

  test('a fifo is refused at once instead of hanging, a directory and /dev/zero too', () => {
    const fifo = join(dir, 'fifo')
    spawnSync('mkfifo', [fifo])
    expect(reasonOf(() => readFileGuarded(fifo, { maxBytes: 100 }))).toBe('not-regular')
    mkdirSync(join(dir, 'd'))
    expect(reasonOf(() => readFileGuarded(join(dir, 'd'), { maxBytes: 100 }))).toBe('not-regular')
    expect(reasonOf(() => readFileGuarded('/dev/zero', { maxBytes: 100 }))).toBe('not-regular')
  })

  test('a socket is refused', async () => {
    const path = join(dir, 'sock')
    const server = createServer().listen(path)
    await new Promise((r) => server.once('listening', r))
    try {
      expect(reasonOf(() => readFileGuarded(path, { maxBytes: 100 }))).toBe('not-regular')
    } finally {
      server.close()
    }
  })

  test('the size cap holds', () => {
    const file = join(dir, 'big')
    writeFileSync(file, 'x'.repeat(101))
    expect(reasonOf(() => readFileGuarded(file, { maxBytes: 100 }))).toBe('too-large')
    writeFileSync(file, 'x'.repeat(100))
    expect(readFileGuarded(file, { maxBytes: 100 })?.length).toBe(100)
  })

  test('noFollow refuses a symlink; without it the target is read', () => {
    const target = join(dir, 'target')
    writeFileSync(target, 't', { mode: 0o600 })
    const link = join(dir, 'link')
    symlinkSync(target, link)
    expect(reasonOf(() => readFileGuarded(link, { maxBytes: 100, noFollow: true }))).toBe('symlink')
    expect(readFileGuarded(link, { maxBytes: 100 })?.toString()).toBe('t')
  })

  test('trusted refuses group/world-writable files', () => {
    const file = join(dir, 'loose')
    writeFileSync(file, 'v')
    chmodSync(file, 0o666)
    expect(reasonOf(() => readFileGuarded(file, { maxBytes: 100, trusted: true }))).toBe('writable-by-others')
    chmodSync(file, 0o620)
    expect(reasonOf(() => readFileGuarded(file, { maxBytes: 100, trusted: true }))).toBe('writable-by-others')
    chmodSync(file, 0o644)
    expect(readFileGuarded(file, { maxBytes: 100, trusted: true })?.toString()).toBe('v')
  })

  const notRoot = process.getuid?.() !== 0 ? 'not root: only root can chown a file to another uid' : null
  test.skipIf(skipFor('root', 'readFileGuarded foreign-owner check', notRoot))('trusted refuses a file owned by another user', () => {
    const file = join(dir, 'foreign')
    writeFileSync(file, 'v', { mode: 0o600 })
    spawnSync('chown', ['65534', file])
    expect(reasonOf(() => readFileGuarded(file, { maxBytes: 100, trusted: true }))).toBe('foreign-owner')
  })
})
