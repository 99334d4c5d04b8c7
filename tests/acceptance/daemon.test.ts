/**
 * Unlock once (SPEC §9–§11, issue 4), through the compiled binary, with real processes and sockets:
 * unlock → get from a fresh TTY-less process → relock → locked; `source <(keyrack unlock …)`;
 * KEYRACK_SOCK; allowlist refusal; one passphrase for every os.secure key; TTL and idle expiry;
 * socket removal; malformed frames; get --unlock; duration errors and the sudo default; and a
 * planted secret that reaches no file, no argv and no environment.
 *
 * One sandbox (owner `human`, passphrase-protected identity) is shared; every test leaves it relocked.
 * The second-user, two-owner and concurrency cases live in daemon-users.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { daemonPidsUnder, ensureBinary, Sandbox, type RunResult, withoutShellStatus } from '../helpers/harness.ts'
import { daemonPidOf, isAlive, rawExchange, waitFor } from './daemon.helpers.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'

const PASS = 'correct horse battery 42'
const PLANTED = `planted-${crypto.randomUUID()}`
const SECRETS: Record<string, string> = { ALPHA: PLANTED, BETA: `beta-${crypto.randomUUID()}`, GAMMA: `gamma-${crypto.randomUUID()}` }
const UNLOCK_HINT = 'ask a human to run `keyrack unlock --for repo --env test`'

let box: Sandbox
const pass = { 3: `${PASS}\n` }
const unlockRepo = (extra: string[] = [], env: Record<string, string> = {}): RunResult =>
  box.run(['unlock', '--for', 'repo', '--env', 'test', '--passphrase-fd', '3', ...extra], { fds: pass, env })
const getRepo = (env: Record<string, string> = {}): RunResult => box.run(['get', '--for', 'repo', '--env', 'test'], { env })
const exportsOf = (keys: string[]): string => keys.map((k) => `export ${k}='${SECRETS[k]}'\n`).join('')
const sockPath = (): string => join(box.runtimeDir, 'keyrack', 'human.sock')

/** relock and wait for the daemon to be gone */
async function relockAll(env: Record<string, string> = {}): Promise<void> {
  box.run(['relock'], { env })
  expect(await waitFor(() => daemonPidsUnder(box.dir).length === 0, 5000)).toBe(true)
}

beforeAll(async () => {
  await ensureBinary()
  box = new Sandbox('keyrack-daemon')
  box.writeRepoManifest('org: acme\nenv.test:\n  - ALPHA\n  - BETA\n  - GAMMA\n')
  expect(box.run(['init', '--passphrase-fd', '3'], { fds: pass }).code).toBe(0)
  const set = (key: string, env: string, secret: string, extra: string[] = []): void => {
    const r = box.run(['set', '--key', key, '--env', env, ...extra, '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { input: secret, fds: pass })
    expect(r.stderr).toContain('round trip verified')
  }
  for (const [key, secret] of Object.entries(SECRETS)) set(key, 'test', secret)
  // stored, but not allowlisted by the repo manifest
  set('DELTA', 'test', `delta-${crypto.randomUUID()}`)
  set('AWS_PROFILE', 'sudo', `sudo-${crypto.randomUUID()}`, ['--org', 'ehmpathy'])
}, 60_000)

/** every test starts with nothing unlocked, even after a failure left a daemon behind */
afterEach(async () => {
  box.run(['relock'])
  box.run(['relock'], { env: { KEYRACK_SOCK: join(box.dir, 'alt-sock', 'human.sock') } })
  if (!(await waitFor(() => daemonPidsUnder(box.dir).length === 0, 5000)))
    for (const pid of daemonPidsUnder(box.dir)) process.kill(pid, 'SIGKILL')
})

afterAll(() => box?.cleanup())

describe('unlock once, get without a passphrase, relock', () => {
  test('status down → unlock → get from a fresh TTY-less process → status up → relock → locked, status down', async () => {
    const before = box.run(['status'])
    expect(before.code).toBe(0)
    expect(before.stderr).toContain("daemon of owner 'human': down")

    const unlocked = unlockRepo()
    expect(unlocked.stderr).not.toContain('error')
    expect(unlocked.code).toBe(0)
    for (const key of Object.keys(SECRETS)) expect(unlocked.stderr).toContain(`unlocked acme.test.${key} (encrypted,permanent) until `)
    expect(unlocked.stderr).toMatch(/daemon of owner 'human' started \(pid \d+\)/)
    const pid = daemonPidOf(unlocked.stderr)
    expect(isAlive(pid)).toBe(true)

    // a new session (setsid: no controlling terminal), stdin /dev/null, no passphrase anywhere
    const fresh = box.sh('exec setsid -w "$KEYRACK" get --for repo --env test </dev/null')
    expect(fresh.code).toBe(0)
    expect(fresh.stdout).toBe(exportsOf(['ALPHA', 'BETA', 'GAMMA']))
    expect(fresh.stderr).not.toContain('passphrase')

    const up = box.run(['status'])
    expect(up.code).toBe(0)
    expect(up.stderr).toContain(`daemon of owner 'human': up (pid ${pid}, socket ${sockPath()})`)
    for (const key of Object.keys(SECRETS)) expect(up.stdout).toMatch(new RegExp(`acme\\.test\\.${key}\\s+encrypted,permanent\\s+PERMANENT_VIA_REPLICA\\s+os\\.secure\\s+\\S+\\s+-\\s+8h5\\dm`))
    for (const secret of Object.values(SECRETS)) expect(up.stdout + up.stderr).not.toContain(secret)

    const relocked = box.run(['relock'])
    expect(relocked.code).toBe(0)
    expect(relocked.stderr).toContain('relocked 3 keys; daemon stopped')
    expect(await waitFor(() => !isAlive(pid), 5000)).toBe(true)
    expect(existsSync(sockPath())).toBe(false)

    const locked = box.sh('exec setsid -w "$KEYRACK" get --for repo --env test </dev/null')
    expect(locked.code).toBe(4)
    expect(withoutShellStatus(locked)).toBe('')
    expect(locked.stderr).toMatch(/ALPHA\s+locked/)
    expect(locked.stderr).toContain(UNLOCK_HINT)

    const down = box.run(['status'])
    expect(down.stderr).toContain("daemon of owner 'human': down")
  }, 30_000)

  test('relock --key forgets one key; the daemon keeps the rest', async () => {
    expect(unlockRepo().code).toBe(0)
    const one = box.run(['relock', '--key', 'BETA'])
    expect(one.stderr).toContain('relocked 1 key; 2 still unlocked')
    const r = getRepo()
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/BETA\s+locked/)
    expect(r.stderr).toMatch(/ALPHA\s+granted/)
    expect(box.run(['get', '--key', 'GAMMA', '--env', 'test', '--output', 'value']).stdout).toBe(`${SECRETS.GAMMA}\n`)
    await relockAll()
  }, 20_000)
})

describe('unlock prints shell code for `source`', () => {
  test('stdout exports only KEYRACK_SOCK and KEYRACK_OWNER, no secret; human lines go to stderr; later commands use it', async () => {
    const passFile = join(box.dir, 'passphrase')
    writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 })
    const outFile = join(box.dir, 'unlock.out')
    const errFile = join(box.dir, 'unlock.err')
    const script = [
      'before=$(env | sort)',
      `source <("$KEYRACK" unlock --for repo --env test --passphrase-fd 3 3<'${passFile}' 2>'${errFile}' | tee '${outFile}')`,
      'after=$(env | sort)',
      'diff <(printf "%s\\n" "$before") <(printf "%s\\n" "$after") | grep "^[<>]"',
      'echo ---',
      '"$KEYRACK" get --for repo --env test',
    ].join('\n')
    const r = box.sh(script, { shell: 'bash' })
    rmSync(passFile)
    expect(r.code).toBe(0)
    const [diff, got] = r.stdout.split('---\n')
    // the sourced code changed exactly two variables
    expect(diff!.trim().split('\n').sort()).toEqual([`> KEYRACK_OWNER=human`, `> KEYRACK_SOCK=${sockPath()}`])
    expect(got).toBe(exportsOf(['ALPHA', 'BETA', 'GAMMA']))

    const out = readFileSync(outFile, 'utf8')
    expect(out).toBe(`KEYRACK_SOCK='${sockPath()}'; export KEYRACK_SOCK;\nKEYRACK_OWNER='human'; export KEYRACK_OWNER;\n`)
    const err = readFileSync(errFile, 'utf8')
    expect(err).toContain('unlocked acme.test.ALPHA')
    expect(err).toContain("daemon of owner 'human' started")
    for (const secret of [...Object.values(SECRETS), PASS]) expect(out + err).not.toContain(secret)
    await relockAll()
  }, 20_000)

  test('KEYRACK_SOCK in another private directory: the daemon listens there and later commands find it through the variable', async () => {
    const alt = join(box.dir, 'alt-sock')
    mkdirSync(alt, { mode: 0o700 })
    const sock = join(alt, 'human.sock')
    const viaVar = { KEYRACK_SOCK: sock }
    const r = unlockRepo([], viaVar)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`KEYRACK_SOCK='${sock}'; export KEYRACK_SOCK;`)
    expect(existsSync(sock)).toBe(true)
    expect(existsSync(sockPath())).toBe(false)

    expect(getRepo(viaVar).stdout).toBe(exportsOf(['ALPHA', 'BETA', 'GAMMA']))
    expect(box.run(['status'], { env: viaVar }).stderr).toContain(`up (pid ${daemonPidOf(r.stderr)}, socket ${sock})`)
    // without the variable, the default path has no daemon
    const plain = getRepo()
    expect(plain.code).toBe(4)
    expect(plain.stderr).toContain(UNLOCK_HINT)

    // the directory is checked before use: opened up to others, it is refused with the fix
    chmodSync(alt, 0o755)
    const open = getRepo(viaVar)
    expect(open.code).not.toBe(0)
    expect(withoutShellStatus(open)).toBe('')
    expect(open.stderr).toContain(`the keyrack socket directory ${alt} is accessible to other users`)
    expect(open.stderr).toContain(`chmod 700 ${alt}`)
    chmodSync(alt, 0o700)

    box.run(['relock'], { env: viaVar })
    expect(await waitFor(() => daemonPidsUnder(box.dir).length === 0, 5000)).toBe(true)
  }, 20_000)
})

describe('what unlock refuses or takes', () => {
  test('a key the repo manifest does not allowlist is refused (exit 3) and no daemon starts', () => {
    const r = box.run(['unlock', '--key', 'DELTA', '--env', 'test', '--passphrase-fd', '3'], { fds: pass })
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('DELTA is not allowlisted for env test')
    expect(withoutShellStatus(r)).toBe('')
    expect(existsSync(sockPath())).toBe(false)
    expect(daemonPidsUnder(box.dir)).toEqual([])
  })

  test('bad --duration / --idle values exit 2 with a hint, before any passphrase is needed', () => {
    for (const [flag, value] of [['--duration', '5x'], ['--duration', '0s'], ['--duration', '8d'], ['--duration', ''], ['--idle', '1y']] as const) {
      const r = box.run(['unlock', '--for', 'repo', '--env', 'test', flag, value])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(`${flag} takes a duration such as 9h, 30m or 90s`)
      expect(r.stderr).toContain(`hint: e.g. \`${flag} 9h\``)
    }
    expect(daemonPidsUnder(box.dir)).toEqual([])
  })

  test('one passphrase for all os.secure keys: the fd (a pipe) is read once, three keys unlock', async () => {
    // a second read of a pipe that has been drained would get EOF: the empty (wrong) passphrase
    const r = box.sh(`"$KEYRACK" unlock --for repo --env test --passphrase-fd 3 3< <(printf '%s\\n' "$PASS")`, { shell: 'bash', env: { PASS } })
    expect(r.code).toBe(0)
    expect(r.stderr.match(/unlocked acme\.test\.\w+/g)).toEqual(['unlocked acme.test.ALPHA', 'unlocked acme.test.BETA', 'unlocked acme.test.GAMMA'])
    await relockAll()
  }, 20_000)

  test.skipIf(skipFor('tool', 'unlock on a terminal (script pty)', missingTool('script')))('one passphrase prompt on a terminal for three keys (a real pty via script)', async () => {
    const r = box.sh(`(sleep 1.5; printf '%s\\r' "$PASS") | script -qec "$KEYRACK unlock --for repo --env test" /dev/null`, { env: { PASS } })
    expect(r.code).toBe(0)
    expect(r.stdout.match(/passphrase for the keyrack identity/g)).toHaveLength(1)
    expect(r.stdout.match(/unlocked acme\.test\.\w+/g)).toHaveLength(3)
    await relockAll()
  }, 20_000)

  test('get --for repo --unlock unlocks what is locked (passphrase from fd 3), then returns the keys', async () => {
    expect(getRepo().code).toBe(4)
    const r = box.run(['get', '--for', 'repo', '--env', 'test', '--unlock', '--passphrase-fd', '3'], { fds: pass })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(exportsOf(['ALPHA', 'BETA', 'GAMMA']))
    // and the daemon keeps them for the next, passphrase-less process
    const again = getRepo()
    expect(again.stderr).toBe('')
    expect(again.stdout).toBe(exportsOf(['ALPHA', 'BETA', 'GAMMA']))
    await relockAll()
  }, 20_000)

  test('env sudo: unlock --key K --env sudo --org X defaults to 30 minutes', async () => {
    const r = box.run(['unlock', '--key', 'AWS_PROFILE', '--env', 'sudo', '--org', 'ehmpathy', '--passphrase-fd', '3'], { fds: pass, cwd: box.home })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('unlocked ehmpathy.sudo.AWS_PROFILE')
    const json = JSON.parse(box.run(['status', '--json']).stdout)
    expect(json.grants).toHaveLength(1)
    const left = json.grants[0].remainingMs
    expect(left).toBeLessThanOrEqual(30 * 60_000)
    expect(left).toBeGreaterThan(29 * 60_000)
    expect(box.run(['status']).stdout).toMatch(/ehmpathy\.sudo\.AWS_PROFILE .*\s(29m\d\ds|30m00s)/)
    await relockAll()
  }, 20_000)
})

describe('time to live', () => {
  test('--duration 2s: granted at once, `expired` with the unlock hint (exit 4) after 2.5 s', async () => {
    expect(unlockRepo(['--duration', '2s']).code).toBe(0)
    // the TTL counts from when the identity opened, a little before unlock returns
    const t0 = Date.now()
    expect(getRepo().code).toBe(0)
    await Bun.sleep(Math.max(0, t0 + 2500 - Date.now()))
    const r = getRepo()
    expect(r.code).toBe(4)
    expect(withoutShellStatus(r)).toBe('')
    for (const key of Object.keys(SECRETS)) expect(r.stderr).toMatch(new RegExp(`${key}\\s+expired`))
    expect(r.stderr).toContain(UNLOCK_HINT)
    await relockAll()
  }, 20_000)

  // the clock is the daemon's: each grant's idle deadline comes from `status --json` (set when the
  // daemon stored it, after unlock returned), never from a timer the test started before unlock. A
  // 3 s idle timeout leaves room for a slow process start between two uses on a loaded machine.
  test('--idle 3s with --duration 1h: a key in use stays, idle keys expire; status shows both expiries', async () => {
    const getAlpha = (): RunResult => box.run(['get', '--key', 'ALPHA', '--env', 'test', '--output', 'value'])
    const t0 = Date.now()
    expect(unlockRepo(['--duration', '1h', '--idle', '3s']).code).toBe(0)
    expect(getAlpha().stdout).toBe(`${PLANTED}\n`)
    const json = JSON.parse(box.run(['status', '--json']).stdout)
    const t1 = Date.now()
    expect(json.grants).toHaveLength(3)
    for (const g of json.grants) {
      expect(g.expiresAt).toBeGreaterThanOrEqual(t0 + 60 * 60_000 - 1000)
      expect(g.expiresAt).toBeLessThanOrEqual(t1 + 60 * 60_000)
      expect(g.idleExpiresAt).toBeGreaterThanOrEqual(t0 + 3000)
      expect(g.idleExpiresAt).toBeLessThanOrEqual(t1 + 3000)
      expect(g.idleExpiresAt).toBeLessThan(g.expiresAt)
    }
    const table = box.run(['status']).stdout
    expect(table).toContain('IDLE EXPIRES')
    expect(table).toMatch(/acme\.test\.ALPHA\s+\S+\s+\S+\s+\S+\s+\d{4}-\S+Z\s+\d{4}-\S+Z\s/)

    // keep ALPHA in use until the daemon's own idle deadline for BETA and GAMMA has passed
    const idle = json.grants.filter((g: { slug: string }) => g.slug !== 'acme.test.ALPHA')
    expect(idle).toHaveLength(2)
    const deadline = Math.max(...idle.map((g: { idleExpiresAt: number }) => g.idleExpiresAt))
    let uses = 0
    while (Date.now() <= deadline + 200) {
      expect(getAlpha().stdout).toBe(`${PLANTED}\n`)
      uses++
      await Bun.sleep(250)
    }
    expect(uses).toBeGreaterThan(0)
    // each use slid ALPHA's idle deadline past the others'
    const after = JSON.parse(box.run(['status', '--json']).stdout)
    const alpha = after.grants.find((g: { slug: string }) => g.slug === 'acme.test.ALPHA')
    expect(alpha?.idleExpiresAt).toBeGreaterThan(deadline)
    const r = getRepo()
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/ALPHA\s+granted/)
    expect(r.stderr).toMatch(/BETA\s+expired/)
    expect(r.stderr).toMatch(/GAMMA\s+expired/)
    expect(r.stderr).toContain(UNLOCK_HINT)
    await relockAll()
  }, 30_000)
})

describe('the daemon process', () => {
  test('exits when its socket file is deleted', async () => {
    const r = unlockRepo()
    const pid = daemonPidOf(r.stderr)
    expect(isAlive(pid)).toBe(true)
    rmSync(sockPath())
    expect(await waitFor(() => !isAlive(pid), 5000)).toBe(true)
    expect(getRepo().code).toBe(4)
  }, 20_000)

  test('malformed frames through the real socket get error replies, never a crash', async () => {
    const pid = daemonPidOf(unlockRepo().stderr)
    const sock = sockPath()
    const reply = (text: string) => JSON.parse(text.split('\n')[0]!)

    const garbage = await rawExchange(sock, 'this is not json\n')
    expect(reply(garbage.received)).toMatchObject({ v: 1, ok: false })

    const wrongVersion = await rawExchange(sock, '{"v":99,"id":7,"op":"ping"}\n')
    expect(reply(wrongVersion.received)).toMatchObject({ ok: false })

    const unknownOp = await rawExchange(sock, '{"v":1,"id":8,"op":"dump-everything"}\n')
    expect(reply(unknownOp.received)).toMatchObject({ ok: false })

    // a value in the wrong field is never echoed back (it could be a secret)
    const echo = `echo-${crypto.randomUUID()}`
    const mistyped = await rawExchange(sock, `{"v":1,"id":9,"op":"get","slugs":"${echo}"}\n`)
    expect(reply(mistyped.received)).toMatchObject({ ok: false })
    expect(mistyped.received).not.toContain(echo)

    // the connection stays usable after a bad frame
    const then = await rawExchange(sock, 'garbage\n{"v":1,"id":10,"op":"ping"}\n', { untilLines: 2 })
    const lines = then.received.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines[0]).toMatchObject({ ok: false })
    expect(lines[1]).toMatchObject({ id: 10, ok: true, result: { pid, owner: 'human' } })

    // over the 1 MiB frame limit: an error reply, then the connection is closed
    const big = await rawExchange(sock, `{"v":1,"id":11,"op":"get","slugs":["${'x'.repeat(1_200_000)}"]}\n`, { timeoutMs: 5000 })
    expect(reply(big.received)).toMatchObject({ ok: false })
    expect(big.closed || big.error !== undefined).toBe(true)
    // and without any newline at all
    const endless = await rawExchange(sock, new Uint8Array(2_000_000).fill(0x61), { timeoutMs: 5000 })
    expect(endless.closed || endless.error !== undefined).toBe(true)

    // binary junk
    await rawExchange(sock, new Uint8Array([0, 255, 10, 0xc3, 0x28, 10]), { untilLines: 2 })

    expect(isAlive(pid)).toBe(true)
    const status = box.run(['status'])
    expect(status.stderr).toContain(`up (pid ${pid}`)
    expect(getRepo().stdout).toBe(exportsOf(['ALPHA', 'BETA', 'GAMMA']))
    await relockAll()
  }, 30_000)

  test('a planted secret reaches no file under the sandbox (HOME, runtime dir, TMPDIR), no process argv and not the daemon environment (unlock → get → relock)', async () => {
    const unlocked = unlockRepo()
    const pid = daemonPidOf(unlocked.stderr)
    // the daemon listens in the sandbox's own runtime dir, not in a shared fallback directory
    expect(existsSync(sockPath())).toBe(true)

    // while the daemon holds it
    const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout
    expect(ps).toContain('__daemon --owner human')
    expect(ps).not.toContain(PLANTED)
    expect(ps).not.toContain(PASS)
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
    expect(cmdline.split('\0').filter(Boolean).slice(1)).toEqual(['__daemon', '--owner', 'human'])
    for (const text of [cmdline, environ]) {
      expect(text).not.toContain(PLANTED)
      expect(text).not.toContain(PASS)
    }
    // only the allowlisted variables reach the daemon
    const names = environ.split('\0').filter(Boolean).map((kv) => kv.split('=')[0] ?? '')
    for (const name of names) expect(['PATH', 'HOME', 'USER', 'LOGNAME', 'XDG_RUNTIME_DIR', 'TMPDIR', 'LANG', 'KEYRACK_HOME', 'KEYRACK_SOCK']).toContain(name)

    expect(box.run(['get', '--key', 'ALPHA', '--env', 'test', '--output', 'value']).stdout).toBe(`${PLANTED}\n`)
    await relockAll()

    // HOME (vaults, manifests), the runtime dir (sockets, locks) and TMPDIR are all under box.dir;
    // the encrypted vault file holds the secret only as ciphertext, so nothing may match
    expect(box.files().length).toBeGreaterThan(3)
    expect(box.filesContaining(PLANTED)).toEqual([])
    expect(box.filesContaining(PASS)).toEqual([])
  }, 30_000)
})

test('no daemon started by this file survives it', async () => {
  box.run(['relock'])
  expect(await waitFor(() => daemonPidsUnder(box.dir).length === 0, 5000)).toBe(true)
})
