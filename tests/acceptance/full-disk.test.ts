/**
 * A full disk during `set` (issue 8), on a real full filesystem: a small tmpfs mounted as
 * KEYRACK_HOME's parent (root only: `mount -t tmpfs`). `set` must say "no space left on <dir>",
 * exit 6 (a vault failure), leave the host manifest byte-identical, and leave no lock and no temp
 * file behind; once space is free again, the same `set` works. Where mounting is not allowed the
 * test is skipped with a note; tests/unit/fs-atomic.test.ts covers ENOSPC through the fs port.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBinary, Sandbox } from '../helpers/harness.ts'
import { skipFor } from '../helpers/skips.ts'

beforeAll(ensureBinary, 120_000)

function tryMount(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'not root: cannot mount a small tmpfs'
  mkdirSync(dir, { recursive: true })
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', dir], { encoding: 'utf8' })
  return r.status === 0 ? null : `mount -t tmpfs failed (${r.stderr.trim() || r.status}): not allowed in this container`
}

const sb = new Sandbox('kr-full-disk')
const mountPoint = join(sb.dir, 'small')
const skip = tryMount(mountPoint)
// not root: a skip CI must see; root in a container that may not mount: a note (fs-atomic.test.ts
// covers ENOSPC through the fs port)
if (process.getuid?.() !== 0) skipFor('root', 'full disk on a small tmpfs', skip)
else if (skip) console.warn(`full-disk.test.ts: skipped — ${skip}`)
afterAll(() => {
  if (!skip) spawnSync('umount', ['-l', mountPoint])
  sb.cleanup()
})

describe.skipIf(skip !== null)('set on a full disk', () => {
  const home = join(mountPoint, 'keyrack')
  const env = { KEYRACK_HOME: home }
  const run = (args: string[], input = '') => sb.run(args, { env, input })
  const fillers: string[] = []
  let filled = 0

  /** fills the filesystem page by page until it refuses, then frees exactly `pages` pages */
  const fillDisk = (pages: number) => {
    for (;;) {
      const file = join(mountPoint, `filler-${filled++}`)
      const fd = openSync(file, 'w')
      try {
        writeSync(fd, Buffer.alloc(4096, 0x66))
      } catch (error) {
        closeSync(fd)
        rmSync(file)
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break
        throw error
      }
      closeSync(fd)
      fillers.push(file)
    }
    for (let i = 0; i < pages; i++) rmSync(fillers.pop()!)
  }

  test('no space left on <dir>, exit 6; the host manifest byte-identical, no lock and no temp left; then it works', () => {
    expect(run(['init', '--no-passphrase']).code).toBe(0)
    sb.writeRepoManifest('org: acme\nenv.test:\n  - ALPHA\n  - BETA\n')
    expect(run(['set', '--key', 'ALPHA', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], 'alpha-secret').code).toBe(0)
    const manifest = join(home, 'host.human.yml.age')
    const before = readFileSync(manifest)
    const homeFiles = () => readdirSync(home, { recursive: true }).map(String).sort()
    const filesBefore = homeFiles()

    // one free page: enough for the lock file, not for the 20 KiB secret's age file
    fillDisk(1)
    const secret = 'b'.repeat(20 * 1024)
    const full = run(['set', '--key', 'BETA', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], secret)
    expect({ code: full.code, stderr: full.stderr }).toEqual({ code: 6, stderr: expect.stringContaining(`keyrack: error: no space left on ${join(home, 'secure', 'human')}: nothing was changed\n`) })
    expect(full.stderr).toContain(`df -h ${join(home, 'secure', 'human')}`)
    expect(full.stderr).not.toContain('unexpected')
    expect(readFileSync(manifest).equals(before)).toBe(true)
    expect(homeFiles()).toEqual(filesBefore) // no .lock.human, no .tmp- file

    // not even a page: the lock itself cannot be written, and is not left behind either
    fillDisk(0)
    const none = run(['set', '--key', 'BETA', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], secret)
    expect(none.code).toBe(6)
    expect(none.stderr).toContain(`keyrack: error: no space left on ${home}: nothing was changed`)
    expect(readFileSync(manifest).equals(before)).toBe(true)
    expect(homeFiles()).toEqual(filesBefore)

    // space again: the same command works, and both keys are served
    for (const file of fillers.splice(0)) rmSync(file)
    expect(run(['set', '--key', 'BETA', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], secret).code).toBe(0)
    const got = sb.run(['get', '--for', 'repo', '--env', 'test'], { env })
    expect({ code: got.code, stdout: got.stdout }).toEqual({ code: 0, stdout: `export ALPHA='alpha-secret'\nexport BETA='${secret}'\n` })
  }, 60_000)
})
