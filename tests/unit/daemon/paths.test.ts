import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, lchownSync, mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { KeyrackError, KeyrackUsageError } from '../../../src/domain/errors.ts'
import {
  prepareSocketDir,
  prepareSocketPath,
  resolveSocketDir,
  resolveSocketPath,
  SHARED_TMP,
  verifySocketDir,
} from '../../../src/daemon/paths.ts'
import { removeDir, tempRuntimeDir } from './helpers.ts'

const uid = process.getuid!()
const dirs: string[] = []
const temp = (): string => {
  const dir = tempRuntimeDir()
  dirs.push(dir)
  return dir
}
afterAll(() => dirs.forEach(removeDir))

const hintOf = (fn: () => unknown): { message: string; hint: string[] } => {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(KeyrackError)
    return { message: (error as KeyrackError).message, hint: (error as KeyrackError).hint }
  }
  throw new Error('expected a KeyrackError')
}

describe('resolveSocketDir', () => {
  test('uses XDG_RUNTIME_DIR when it is a private dir of ours', () => {
    const runtime = temp()
    expect(resolveSocketDir({ env: { XDG_RUNTIME_DIR: runtime }, uid, platform: 'linux' })).toBe(join(runtime, 'keyrack'))
  })

  // the fallback is computed under a sandbox (sharedTmp), never pointed at the machine's /tmp:
  // resolveSocketDir does not touch it, and no test may depend on what another program left there
  test('falls back to <shared tmp>/keyrack-<uid> when XDG_RUNTIME_DIR is loose, a symlink, foreign or missing', () => {
    const sharedTmp = temp()
    const loose = temp()
    chmodSync(loose, 0o755)
    const real = temp()
    const link = join(temp(), 'link')
    symlinkSync(real, link)
    for (const XDG_RUNTIME_DIR of [loose, link, '/nonexistent', 'relative/dir', undefined]) {
      expect(resolveSocketDir({ env: { XDG_RUNTIME_DIR }, uid, platform: 'linux', sharedTmp })).toBe(join(sharedTmp, `keyrack-${uid}`))
    }
    expect(resolveSocketDir({ env: { XDG_RUNTIME_DIR: real }, uid: uid + 1, platform: 'linux', sharedTmp })).toBe(join(sharedTmp, `keyrack-${uid + 1}`))
    // and the default shared tmp is the one SPEC §10 names
    expect(SHARED_TMP).toBe('/tmp')
  })

  test('the fallback honours an absolute TMPDIR (as ssh-agent does), so it can be pointed away from /tmp', () => {
    const sharedTmp = temp()
    expect(resolveSocketDir({ env: { TMPDIR: '/home/u/tmp' }, uid, platform: 'linux', sharedTmp })).toBe(`/home/u/tmp/keyrack-${uid}`)
    expect(resolveSocketDir({ env: { TMPDIR: '/home/u/tmp/' }, uid, platform: 'linux', sharedTmp })).toBe(`/home/u/tmp/keyrack-${uid}`)
    expect(resolveSocketDir({ env: { TMPDIR: 'relative' }, uid, platform: 'linux', sharedTmp })).toBe(join(sharedTmp, `keyrack-${uid}`))
  })

  test('macOS uses $TMPDIR/keyrack', () => {
    const sharedTmp = temp()
    expect(resolveSocketDir({ env: { TMPDIR: '/var/folders/xy/T/' }, uid, platform: 'darwin', sharedTmp })).toBe('/var/folders/xy/T/keyrack')
    expect(resolveSocketDir({ env: {}, uid, platform: 'darwin', sharedTmp })).toBe(join(sharedTmp, `keyrack-${uid}`))
  })
})

describe('resolveSocketPath', () => {
  test('one socket per owner; KEYRACK_SOCK is honoured only for the same owner', () => {
    const runtime = temp()
    const env = { XDG_RUNTIME_DIR: runtime }
    expect(resolveSocketPath({ env, uid, owner: 'human' })).toBe(join(runtime, 'keyrack', 'human.sock'))
    expect(resolveSocketPath({ env, uid, owner: 'seaturtle' })).toBe(join(runtime, 'keyrack', 'seaturtle.sock'))
    const sock = '/run/elsewhere/human.sock'
    expect(resolveSocketPath({ env: { ...env, KEYRACK_SOCK: sock }, uid, owner: 'human' })).toBe(sock)
    expect(resolveSocketPath({ env: { ...env, KEYRACK_SOCK: sock }, uid, owner: 'seaturtle' })).toBe(
      join(runtime, 'keyrack', 'seaturtle.sock'),
    )
  })

  test('rejects owner names that could escape the directory', () => {
    for (const owner of ['../x', 'Human', '', 'a/b', 'x'.repeat(33)]) {
      expect(() => resolveSocketPath({ env: {}, uid, owner })).toThrow(KeyrackUsageError)
    }
  })

  test('KEYRACK_SOCK goes through the same directory checks', () => {
    const loose = temp()
    chmodSync(loose, 0o755)
    const { hint } = hintOf(() => prepareSocketPath({ env: { KEYRACK_SOCK: join(loose, 'human.sock') }, uid, owner: 'human' }))
    expect(hint).toEqual([`chmod 700 ${loose}`])
  })
})

describe('prepareSocketDir / verifySocketDir', () => {
  test('creates the directory 0700 and accepts it', () => {
    const dir = join(temp(), 'keyrack')
    expect(prepareSocketDir(dir, uid)).toBe(dir)
    expect(prepareSocketDir(dir, uid)).toBe(dir) // idempotent
  })

  test('each unsafe state names its exact fix', () => {
    const loose = join(temp(), 'keyrack')
    mkdirSync(loose, { mode: 0o700 })
    chmodSync(loose, 0o750)
    expect(hintOf(() => verifySocketDir(loose, uid)).hint).toEqual([`chmod 700 ${loose}`])

    const link = join(temp(), 'keyrack')
    symlinkSync(temp(), link)
    expect(hintOf(() => prepareSocketDir(link, uid))).toMatchObject({ hint: [`rm ${link}`] })

    const missing = join(temp(), 'nope')
    expect(hintOf(() => verifySocketDir(missing, uid)).hint).toEqual([`mkdir -m 700 ${missing}`])

    if (uid === 0) {
      const foreign = join(temp(), 'keyrack')
      mkdirSync(foreign, { mode: 0o700 })
      lchownSync(foreign, 4321, 4321)
      const { message, hint } = hintOf(() => prepareSocketDir(foreign, uid))
      expect(message).toContain('owned by uid 4321')
      expect(hint).toEqual([`sudo rm -rf ${foreign}`])
    }
  })
})
