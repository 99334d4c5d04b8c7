/**
 * The keyrack home is checked, not trusted (issue 8): on every read, KEYRACK_HOME, each directory
 * in it and each file keyrack reads must be yours, not a symlink and not writable by others;
 * otherwise the command stops with exit 9 and the exact command that fixes it — and a test runs
 * that command. Before this, another user who could write to a 0777 KEYRACK_HOME made `get`
 * serve their value.
 *
 * Another user's files are made with chown (root only; the CI runs as root); the other checks run
 * as any user.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { ensureBinary, Sandbox, type RunResult } from '../helpers/harness.ts'
import { skipFor } from '../helpers/skips.ts'

setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const isRoot = process.getuid?.() === 0
const NOBODY = 65534
const GOOD = { ALPHA: `home-direct-${crypto.randomUUID()}`, BETA: `home-secure-${crypto.randomUUID()}` }
const PLANTED = `planted-by-another-user-${crypto.randomUUID()}`

describe('the keyrack home is checked on every read', () => {
  const sb = new Sandbox('kr-home')
  const home = sb.keyrackHome
  const direct = join(home, 'direct.human.json')
  const secureDir = join(home, 'secure', 'human')
  const secureFile = join(secureDir, `${createHash('sha256').update('acme.test.BETA').digest('hex')}.age`)
  afterAll(() => sb.cleanup())

  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest('org: acme\nenv.test:\n  - ALPHA\n  - BETA\n')
    expect(sb.set('ALPHA', 'test', GOOD.ALPHA, ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']).code).toBe(0)
    expect(sb.set('BETA', 'test', GOOD.BETA).code).toBe(0)
  })

  const get = (env: Record<string, string> = {}) => sb.run(['get', '--for', 'repo', '--env', 'test'], { env })
  const expectServed = (env: Record<string, string> = {}) => {
    const r = get(env)
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: `export ALPHA='${GOOD.ALPHA}'\nexport BETA='${GOOD.BETA}'\n`, stderr: '' })
  }
  /** refused with exit 9, the reason, and nothing on stdout but the failing shell status */
  const expectRefused = (r: RunResult, reason: string | RegExp) => {
    expect({ code: r.code, planted: r.stdout.includes(PLANTED) || r.stderr.includes(PLANTED) }).toEqual({ code: 9, planted: false })
    expect(r.stdout.replace(/\(exit \d+\)\n$/, '')).toBe('')
    expect(r.stderr).toMatch(reason)
    expect(r.stderr).not.toContain('unexpected')
  }
  /** the command inside the first `…` of the first hint (or the whole hint), as a user would paste it */
  const hintCommand = (r: RunResult, pick: (hint: string) => string | undefined = (h) => /`([^`]+)`/.exec(h)?.[1] ?? h): string => {
    const hint = r.stderr.split('\n').find((l) => l.startsWith('keyrack: hint: '))
    expect(hint).toBeDefined()
    return pick(hint!.slice('keyrack: hint: '.length))!
  }
  const paste = (command: string) => {
    const r = sb.sh(command)
    expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' })
  }

  afterEach(() => expectServed())

  test('a home writable by others: get, exec, list, set and unlock refuse it (exit 9); the chmod in the hint fixes it', () => {
    for (const [mode, who] of [[0o777, 'everyone'], [0o770, 'its group']] as const) {
      chmodSync(home, mode)
      const refusals = [
        get(),
        sb.run(['exec', '--for', 'repo', '--env', 'test', '--', 'true']),
        sb.run(['list']),
        sb.run(['unlock', '--for', 'repo', '--env', 'test']),
        sb.set('ALPHA', 'test', 'new-value', ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']),
      ]
      for (const r of refusals) expectRefused(r, `the keyrack home ${home} is writable by ${who} (mode ${mode.toString(8)}); keyrack reads nothing from it`)
      const fix = hintCommand(refusals[0]!)
      expect(fix).toBe(`chmod 700 ${home}`)
      paste(fix)
    }
  })

  test('an os.direct file writable by its group: refused; chmod 600 from the hint fixes it', () => {
    chmodSync(direct, 0o660)
    const r = get()
    expectRefused(r, `${direct} in the keyrack home is writable by its group (mode 660); keyrack reads nothing from it`)
    expect(hintCommand(r)).toBe(`chmod 600 ${direct}`)
    paste(hintCommand(r))
  })

  test('an os.direct file that is a symlink: refused; the cp -L in the hint puts a real file there', () => {
    const elsewhere = join(sb.dir, 'dotfiles')
    mkdirSync(elsewhere, { recursive: true })
    renameSync(direct, join(elsewhere, 'direct.json'))
    symlinkSync(join(elsewhere, 'direct.json'), direct)
    const r = get()
    expectRefused(r, `${direct} in the keyrack home is a symlink; keyrack reads nothing from it`)
    const fix = hintCommand(r)
    expect(fix).toBe(`cp -L ${direct} ${direct}.copy && mv ${direct}.copy ${direct}`)
    paste(fix)
    chmodSync(direct, 0o600)
  })

  test('the os.secure directory writable by everyone, or an os.secure file that is a symlink: refused', () => {
    chmodSync(secureDir, 0o777)
    const r = get()
    expectRefused(r, `${secureDir} in the keyrack home is writable by everyone (mode 777)`)
    paste(hintCommand(r))
    const aside = join(sb.dir, 'beta.age')
    renameSync(secureFile, aside)
    symlinkSync(aside, secureFile)
    expectRefused(get(), `${secureFile} in the keyrack home is a symlink`)
    rmSync(secureFile)
    renameSync(aside, secureFile)
  })

  test('the host manifest, the inventory or the owner config as a symlink: refused by the commands that read it', () => {
    const cases: [string, string[]][] = [
      [join(home, 'host.human.yml.age'), ['list']],
      [join(home, 'inventory.human.json'), ['get', '--for', 'repo', '--env', 'test']],
      [join(home, 'owner.human.json'), ['get', '--for', 'repo', '--env', 'test']],
    ]
    for (const [file, args] of cases) {
      const aside = join(sb.dir, 'aside')
      renameSync(file, aside)
      symlinkSync(aside, file)
      try {
        expectRefused(sb.run(args), `${file} in the keyrack home is a symlink`)
      } finally {
        rmSync(file)
        renameSync(aside, file)
      }
    }
  })

  test('a symlinked KEYRACK_HOME: refused; pointing KEYRACK_HOME at the real directory, as the hint says, works', () => {
    const real = join(sb.dir, 'real-home')
    renameSync(home, real)
    symlinkSync(real, home)
    try {
      const r = get()
      expectRefused(r, `the keyrack home ${home} is a symlink; keyrack only trusts real directories there`)
      const fix = hintCommand(r)
      expect(fix).toBe(`export KEYRACK_HOME=${real}`)
      expectServed({ KEYRACK_HOME: real })
    } finally {
      rmSync(home)
      renameSync(real, home)
    }
  })

  test('a lock file planted as a symlink is refused at once, not waited on', () => {
    const lock = join(home, '.lock.human')
    symlinkSync('/etc/hostname', lock)
    try {
      const r = sb.set('ALPHA', 'test', GOOD.ALPHA, ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA'])
      expectRefused(r, `${lock} in the keyrack home is a symlink`)
    } finally {
      rmSync(lock)
    }
  })

  const notRoot = skipFor('root', 'home-trust: files and directories of another user', isRoot ? null : 'not root: cannot chown a file to another user')
  describe.skipIf(notRoot)('files and directories of another user (root: chown)', () => {
    test('an os.direct file replaced by another user is never served; the mv in the hint sets it aside', () => {
      const good = readFileSync(direct)
      // what an attacker who can write to the directory does: their own file, renamed over ours
      const theirs = join(home, '.planted')
      writeFileSync(theirs, JSON.stringify({ 'acme.test.ALPHA': { secret: PLANTED, mech: 'PERMANENT_VIA_REPLICA' } }), { mode: 0o644 })
      chownSync(theirs, NOBODY, NOBODY)
      renameSync(theirs, direct)
      const r = get()
      expectRefused(r, `${direct} in the keyrack home is owned by uid ${NOBODY}, not by you (uid 0); keyrack reads nothing from it`)
      const mv = /move it aside: `([^`]+)`/.exec(r.stderr)![1]!
      expect(mv).toBe(`mv ${direct} ${direct}.bak`)
      paste(mv)
      writeFileSync(direct, good, { mode: 0o600 })
      rmSync(`${direct}.bak`)
    })

    test('a home, the os.secure directory or the owner config owned by another user: refused', () => {
      for (const path of [home, secureDir, join(home, 'owner.human.json')]) {
        chownSync(path, NOBODY, NOBODY)
        try {
          expectRefused(get(), `${path}${path === home ? '' : ' in the keyrack home'} is owned by uid ${NOBODY}, not by you (uid 0)`.replace(`${home} is`, `the keyrack home ${home} is`))
        } finally {
          chownSync(path, 0, 0)
        }
      }
    })

    test('set never writes into a directory another user owns', () => {
      chownSync(secureDir, NOBODY, NOBODY)
      try {
        const r = sb.set('BETA', 'test', 'never-written')
        expect(r.code).toBe(9)
        expect(r.stderr).toContain(`owned by uid ${NOBODY}`)
      } finally {
        chownSync(secureDir, 0, 0)
      }
      copyFileSync(secureFile, join(sb.dir, 'check'))
    })
  })
})
