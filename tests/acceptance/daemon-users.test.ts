/**
 * The daemon's enforced boundaries through the compiled binary (SPEC §10, §10.1, issue 4):
 * - per owner: two owners run two daemons on two sockets, each serving only its own keys;
 * - one daemon per owner even when several `unlock`s race;
 * - per OS user: a second user (`keyrack-test-other`, via setpriv) gets nothing from our daemon,
 *   neither through keyrack nor through a raw client that skips every client-side check;
 * - hardening: a daemon run by that (non-root) user has /proc/<pid>/environ and mem closed
 *   to its own uid, no core dumps, cwd /, and only the allowlisted environment.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, daemonPidsUnder, ensureBinary, Sandbox, type RunResult, withoutShellStatus } from '../helpers/harness.ts'
import { asUser, daemonPidOf, isAlive, otherUser, rawExchange, waitFor } from './daemon.helpers.ts'
import { skipFor } from '../helpers/skips.ts'

const boxes: Sandbox[] = []
beforeAll(ensureBinary, 120_000)
afterAll(() => {
  for (const box of boxes) box.cleanup()
})

function sandbox(name: string): Sandbox {
  const box = new Sandbox(name)
  boxes.push(box)
  box.writeRepoManifest('org: acme\nenv.test:\n  - ALPHA\n')
  return box
}

describe('two owners', () => {
  let box: Sandbox
  const secret = { seaturtle: `turtle-${crypto.randomUUID()}`, mechanic: `mechanic-${crypto.randomUUID()}` }
  const owners = Object.keys(secret) as (keyof typeof secret)[]

  beforeAll(() => {
    box = sandbox('keyrack-owners')
    for (const owner of owners) {
      expect(box.initUnprotected(owner).code).toBe(0)
      expect(box.set('ALPHA', 'test', secret[owner], ['--owner', owner, '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA']).code).toBe(0)
    }
  })

  test('two daemon processes, two sockets, each owner gets only its own key', async () => {
    const pids = owners.map((owner) => {
      const r = box.run(['unlock', '--for', 'repo', '--env', 'test', '--owner', owner])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`KEYRACK_SOCK='${join(box.runtimeDir, 'keyrack', `${owner}.sock`)}'`)
      expect(r.stdout).toContain(`KEYRACK_OWNER='${owner}'`)
      return daemonPidOf(r.stderr)
    })
    expect(pids[0]).not.toBe(pids[1])
    expect(daemonPidsUnder(box.dir).sort()).toEqual([...pids].sort())
    for (const [i, owner] of owners.entries()) {
      expect(statSync(join(box.runtimeDir, 'keyrack', `${owner}.sock`)).isSocket()).toBe(true)
      expect(readFileSync(`/proc/${pids[i]}/cmdline`, 'utf8').split('\0')).toContain(owner)
      const got = box.run(['get', '--for', 'repo', '--env', 'test', '--owner', owner])
      expect(got.stdout).toBe(`export ALPHA='${secret[owner]}'\n`)
    }
    // a KEYRACK_SOCK naming the other owner's socket is ignored, never obeyed
    const crossed = box.run(['get', '--for', 'repo', '--env', 'test', '--owner', 'seaturtle'], {
      env: { KEYRACK_SOCK: join(box.runtimeDir, 'keyrack', 'mechanic.sock') },
    })
    expect(crossed.stdout).toBe(`export ALPHA='${secret.seaturtle}'\n`)

    // relocking one owner leaves the other running
    expect(box.run(['relock', '--owner', 'seaturtle']).code).toBe(0)
    expect(await waitFor(() => !isAlive(pids[0]!), 5000)).toBe(true)
    expect(isAlive(pids[1]!)).toBe(true)
    // (an unprotected robot identity still reads its own vault without the daemon)
    expect(box.run(['status', '--owner', 'seaturtle']).stderr).toContain("daemon of owner 'seaturtle': down")
    expect(box.run(['status', '--owner', 'mechanic']).stderr).toContain(`daemon of owner 'mechanic': up (pid ${pids[1]}`)
    box.run(['relock', '--owner', 'mechanic'])
    expect(await waitFor(() => daemonPidsUnder(box.dir).length === 0, 5000)).toBe(true)
  }, 30_000)

  test('concurrent unlocks for one owner start one daemon', async () => {
    // four unlocks in parallel, released together
    const script = [
      'for i in 1 2 3 4; do',
      '  "$KEYRACK" unlock --for repo --env test --owner seaturtle >/dev/null 2>"err.$i" &',
      'done',
      'fail=0; for job in $(jobs -p); do wait "$job" || fail=1; done',
      'cat err.1 err.2 err.3 err.4; exit $fail',
    ].join('\n')
    const r = box.sh(script, { shell: 'bash', cwd: box.repo })
    expect(r.code).toBe(0)
    const reported = [...r.stdout.matchAll(/daemon of owner 'seaturtle' (started|running) \(pid (\d+)\)/g)]
    expect(reported).toHaveLength(4)
    expect(new Set(reported.map((m) => m[2])).size).toBe(1)
    expect(reported.filter((m) => m[1] === 'started')).toHaveLength(1)
    await Bun.sleep(200)
    expect(daemonPidsUnder(box.dir)).toEqual([Number(reported[0]![2])])
    box.run(['relock', '--owner', 'seaturtle'])
    expect(await waitFor(() => daemonPidsUnder(box.dir).length === 0, 5000)).toBe(true)
  }, 30_000)
})

const user = otherUser()
const skipUser = skipFor('root', 'second-user daemon tests (tests/acceptance/daemon-users.test.ts)', typeof user === 'string' ? user : null)
const other = typeof user === 'string' ? { uid: -1, gid: -1 } : user

/** like Sandbox.run, as the second user */
function runAs(box: Sandbox, args: string[], options: { env?: Record<string, string>; input?: string; cmd?: string[] } = {}): RunResult {
  const r = spawnSync(asUser(other)[0]!, [...asUser(other).slice(1), ...(options.cmd ?? [BIN, ...args])], {
    cwd: box.repo,
    env: box.env(options.env),
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 30_000,
  })
  const out = { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
  box.transcript.push(out.stdout, out.stderr)
  return out
}

/** a raw unix-socket client as a small Bun script any user can run: sends one ping, reports what came back */
function rawClientScript(dir: string): string {
  const file = join(dir, 'raw-client.ts')
  writeFileSync(
    file,
    `const report = { connected: false, received: '', closed: false, error: '' }
await new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, 1500)
  Bun.connect({ unix: process.argv[2]!, socket: {
    open(s) { report.connected = true; s.write('{"v":1,"id":1,"op":"ping"}\\n') },
    data(_s, d) { report.received += new TextDecoder().decode(d) },
    close() { report.closed = true; clearTimeout(timer); resolve() },
    error(_s, e) { report.error = (e as any).code ?? 'error'; clearTimeout(timer); resolve() },
  } }).catch((e: any) => { report.error = e.code ?? 'error'; clearTimeout(timer); resolve() })
})
console.log(JSON.stringify(report))
process.exit(0)
`,
    { mode: 0o644 },
  )
  return file
}

describe('a second OS user', () => {
  test.skipIf(skipUser)('gets nothing from our daemon, even with the socket directory opened up', async () => {
    const box = sandbox('keyrack-peer')
    const planted = `peer-${crypto.randomUUID()}`
    expect(box.initUnprotected().code).toBe(0)
    expect(box.set('ALPHA', 'test', planted).code).toBe(0)
    const unlocked = box.run(['unlock', '--for', 'repo', '--env', 'test'])
    expect(unlocked.code).toBe(0)
    const pid = daemonPidOf(unlocked.stderr)
    const sockDir = join(box.runtimeDir, 'keyrack')
    const sock = join(sockDir, 'human.sock')

    // the other user's own places, and a copy of the repo manifest it may read
    const otherHome = join(box.dir, 'other-home')
    mkdirSync(otherHome)
    chownSync(otherHome, other.uid, other.gid)
    const clientScript = rawClientScript(otherHome)

    // control: as ourselves, the same raw client is answered
    const self = JSON.parse(spawnSync(process.execPath, [clientScript, sock], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: otherHome, BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' } }).stdout)
    expect(self.received).toContain('"ok":true')

    // open the path for the test only: normally the 0700 directory stops them at connect()
    for (const dir of [box.dir, box.repo, join(box.repo, '.agent'), box.runtimeDir, sockDir]) chmodSync(dir, 0o711)
    chmodSync(join(box.repo, '.agent', 'keyrack.yml'), 0o644)
    chmodSync(sock, 0o666)
    try {
      const env = { HOME: otherHome, XDG_RUNTIME_DIR: '', TMPDIR: otherHome, KEYRACK_SOCK: sock, BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' }
      // through keyrack: refused (the directory and the daemon's uid are checked before anything is sent)
      const viaKeyrack = runAs(box, ['get', '--key', 'ALPHA', '--env', 'test'], { env })
      expect(viaKeyrack.code).not.toBe(0)
      expect(withoutShellStatus(viaKeyrack)).toBe('')
      expect(viaKeyrack.stdout + viaKeyrack.stderr).not.toContain(planted)

      // a raw client that skips every client-side check reaches the socket and is dropped by the daemon
      const raw = JSON.parse(runAs(box, [], { env, cmd: [process.execPath, clientScript, sock] }).stdout)
      expect(raw.received).toBe('')
      expect(raw.connected || raw.error === 'ECONNRESET' || raw.error === 'EPIPE').toBe(true)
      expect(raw.closed || raw.error !== '').toBe(true)
    } finally {
      for (const dir of [box.dir, box.runtimeDir, sockDir]) chmodSync(dir, 0o700)
      chmodSync(sock, 0o600)
    }
    // the daemon is unharmed and still ours
    expect(isAlive(pid)).toBe(true)
    expect(box.run(['get', '--key', 'ALPHA', '--env', 'test', '--output', 'value']).stdout).toBe(`${planted}\n`)
    // and the refused connections are in the owner's audit log, with the other user's uid
    const refused = JSON.parse(box.run(['audit', '--json']).stdout).filter((e: { command: string }) => e.command === 'daemon.connect')
    expect(refused.length).toBeGreaterThanOrEqual(1)
    expect(refused[0]).toMatchObject({ via: 'daemon', outcome: 'refused', caller: { uid: other.uid } })
    expect(refused[0].reason).toContain(`uid ${other.uid}`)
    box.run(['relock'])
    expect(await waitFor(() => daemonPidsUnder(box.dir).length === 0, 5000)).toBe(true)
  }, 30_000)

  test.skipIf(skipUser)('hardening: a daemon run by a non-root user hides environ and mem from that same user', async () => {
    const box = sandbox('keyrack-harden')
    const planted = `harden-${crypto.randomUUID()}`
    box.env() // creates TMPDIR
    for (const dir of [box.home, box.repo, box.runtimeDir, join(box.dir, 'tmp')]) {
      spawnSync('chown', ['-R', `${other.uid}:${other.gid}`, dir])
    }
    chmodSync(box.dir, 0o711)
    // a variable the daemon must not inherit, and one that must not change how Bun runs
    const env = { MY_API_TOKEN: planted, BUN_CONFIG_NO_CLEAR_TERMINAL_ON_RELOAD: '1', NODE_OPTIONS: '--no-warnings' }
    expect(runAs(box, ['init', '--no-passphrase']).code).toBe(0)
    expect(runAs(box, ['set', '--key', 'ALPHA', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], { input: planted }).code).toBe(0)
    const unlocked = runAs(box, ['unlock', '--for', 'repo', '--env', 'test'], { env })
    expect(unlocked.stderr).toContain('unlocked acme.test.ALPHA')
    expect(unlocked.code).toBe(0)
    const pid = daemonPidOf(unlocked.stderr)
    expect(statSync(`/proc/${pid}`).uid).toBe(other.uid)

    const probe = (target: number): { environ: number; mem: number } => {
      const r = runAs(box, [], { cmd: ['sh', '-c', `cat /proc/${target}/environ >/dev/null 2>&1; e=$?; head -c1 /proc/${target}/mem >/dev/null 2>&1; echo "$e $?"`] })
      const [environ, mem] = r.stdout.trim().split(' ').map(Number)
      return { environ: environ!, mem: mem! }
    }
    // the same uid cannot read the daemon's environment or memory…
    const hardened = probe(pid)
    expect(hardened.environ).not.toBe(0)
    expect(hardened.mem).not.toBe(0)
    // …while it can for a plain process of its own (so the check above means something)
    const plain = Bun.spawn([...asUser(other), 'sleep', '30'], { env: { PATH: process.env.PATH! } })
    await Bun.sleep(100)
    expect(probe(plain.pid).environ).toBe(0)
    // /proc/<pid>/status has no Dumpable line; what is observable of PR_SET_DUMPABLE 0 is that
    // the kernel hands the /proc/<pid> files to root
    expect(statSync(`/proc/${pid}/environ`).uid).toBe(0)
    expect(statSync(`/proc/${plain.pid}/environ`).uid).toBe(other.uid)
    plain.kill()

    // as root: no core dumps, cwd /, only allowlisted variables, no secret in argv or environ
    expect(readFileSync(`/proc/${pid}/limits`, 'utf8')).toMatch(/Max core file size\s+0\s+0/)
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe('/')
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
    expect(environ).not.toContain(planted)
    expect(environ).not.toContain('MY_API_TOKEN')
    expect(environ).not.toContain('BUN_')
    expect(environ).not.toContain('NODE_OPTIONS')
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(planted)

    // and the user itself still gets its key from a fresh process
    expect(runAs(box, ['get', '--key', 'ALPHA', '--env', 'test', '--output', 'value']).stdout).toBe(`${planted}\n`)
    expect(runAs(box, ['relock']).code).toBe(0)
    expect(await waitFor(() => !isAlive(pid), 5000)).toBe(true)
  }, 30_000)
})

test('no daemon started by this file survives it', async () => {
  for (const box of boxes) {
    for (const owner of ['human', 'seaturtle', 'mechanic']) box.run(['relock', '--owner', owner])
    expect(await waitFor(() => daemonPidsUnder(box.dir).length === 0, 5000)).toBe(true)
  }
})
