import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { withLock } from '../../src/runtime/lock.ts'

const dir = mkdtempSync(join(tmpdir(), 'keyrack-lock-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('withLock', () => {
  test('serializes concurrent holders: no two run at once', async () => {
    const path = join(dir, 'serial.lock')
    let inside = 0
    let maxInside = 0
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withLock(path, async () => {
          inside++
          maxInside = Math.max(maxInside, inside)
          await new Promise((r) => setTimeout(r, 5))
          inside--
        }),
      ),
    )
    expect(maxInside).toBe(1)
    expect(existsSync(path)).toBe(false)
  })

  test('a lock left by a dead process is taken over, once, by exactly one waiter at a time', async () => {
    const path = join(dir, 'stale.lock')
    writeFileSync(path, '999999999') // no such pid
    let inside = 0
    let maxInside = 0
    let runs = 0
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withLock(path, async () => {
          inside++
          runs++
          maxInside = Math.max(maxInside, inside)
          // while we hold it, the lock names us
          expect(readFileSync(path, 'utf8')).toBe(String(process.pid))
          await new Promise((r) => setTimeout(r, 5))
          inside--
        }),
      ),
    )
    expect(runs).toBe(6)
    expect(maxInside).toBe(1)
  })

  test('a live holder makes a waiter time out with the rm hint', async () => {
    const path = join(dir, 'live.lock')
    writeFileSync(path, String(process.pid))
    await expect(withLock(path, async () => undefined, 50)).rejects.toThrow(/timed out waiting for the lock/)
    rmSync(path)
  })
})
