/**
 * The vaults that need no external tool, through the compiled binary:
 *  - os.envvar: `set` records the intent with no secret; `get` reads the caller's environment, under a
 *    passphrase-protected identity and with no unlock; `list` shows it; the firewall applies;
 *  - os.daemon + EPHEMERAL_VIA_SESSION: the secret goes straight into the daemon for the unlock's TTL,
 *    nothing is ever written to disk; after a relock, `unlock` asks for it again on a terminal (and says
 *    how to pipe it in without one); typed on a terminal it serves get and exec until the next relock,
 *    then it is gone; it can never be re-vaulted to plaintext or stored on disk.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBinary, Sandbox } from '../helpers/harness.ts'
import { ENTER, onTerminal } from '../helpers/pty.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'

setDefaultTimeout(60_000)
beforeAll(ensureBinary, 120_000)

const PASS = 'vaults-pass-1'
const fd3 = { fds: { 3: `${PASS}\n` } }
const MANIFEST = ['org: acme', 'env.test:', '  - FROM_CI', '  - SESSION_KEY', '  - LEAKY_CI', ''].join('\n')

describe('os.envvar', () => {
  const sb = new Sandbox('kr-envvar')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.run(['init', '--passphrase-fd', '3'], fd3).code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })

  test('set records the intent: no secret is asked for or stored', () => {
    const r = sb.run(['set', '--key', 'FROM_CI', '--env', 'test', '--vault', 'os.envvar', '--mech', 'PERMANENT_VIA_REPLICA', '--passphrase-fd', '3'], fd3)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('keyrack: set acme.test.FROM_CI in os.envvar via PERMANENT_VIA_REPLICA (grade plaintext,permanent); round trip verified')
    const list = sb.run(['list', '--json', '--passphrase-fd', '3'], fd3)
    expect(JSON.parse(list.stdout).keys.map((k: { slug: string; vault: string }) => [k.slug, k.vault])).toEqual([['acme.test.FROM_CI', 'os.envvar']])
  })

  test('get reads the caller environment with a locked identity and no daemon; absent when it is not there', () => {
    const got = sb.run(['get', '--key', 'FROM_CI', '--env', 'test', '--output', 'json'], { env: { FROM_CI: 'ci-secret-1' } })
    expect(got.code).toBe(0)
    expect(JSON.parse(got.stdout).keys[0]).toMatchObject({ key: 'FROM_CI', state: 'granted', vault: 'os.envvar', mech: 'PERMANENT_VIA_REPLICA', secret: 'ci-secret-1' })
    const missing = sb.run(['get', '--key', 'FROM_CI', '--env', 'test'])
    expect(missing.code).toBe(4)
    expect(missing.stderr).toMatch(/FROM_CI +absent +set in os\.envvar, but not in the environment keyrack runs in/)
    expect(missing.stderr).toContain("keyrack: hint: export FROM_CI in the environment that runs keyrack (in CI: pass it in the step's `env:`)")
  })

  test('the firewall applies to what the environment brings', () => {
    expect(sb.run(['set', '--key', 'LEAKY_CI', '--env', 'test', '--vault', 'os.envvar', '--mech', 'PERMANENT_VIA_REPLICA', '--passphrase-fd', '3'], fd3).code).toBe(0)
    const r = sb.run(['get', '--key', 'LEAKY_CI', '--env', 'test'], { env: { LEAKY_CI: 'AKIAIOSFODNN7EXAMPLE' } })
    expect(r.code).toBe(5)
    // no key is emitted: stdout carries only the failing status for a sourcing shell
    expect(r.stdout).toBe('(exit 5)\n')
    expect(r.stderr).toMatch(/LEAKY_CI +blocked/)
  })

  test('exec runs the command only when the environment brings the key, and never with a blocked one', () => {
    const marker = join(sb.dir, 'envvar-ran')
    const ok = sb.run(['exec', '--key', 'FROM_CI', '--env', 'test', '--', 'sh', '-c', 'printf %s "$FROM_CI"'], { env: { FROM_CI: 'ci-secret-2' } })
    expect({ code: ok.code, stdout: ok.stdout }).toEqual({ code: 0, stdout: 'ci-secret-2' })
    const absent = sb.run(['exec', '--key', 'FROM_CI', '--env', 'test', '--', 'touch', marker])
    expect(absent.code).toBe(4)
    expect(absent.stderr).toContain('FROM_CI')
    const blocked = sb.run(['exec', '--key', 'LEAKY_CI', '--env', 'test', '--', 'touch', marker], { env: { LEAKY_CI: 'AKIAIOSFODNN7EXAMPLE' } })
    expect(blocked.code).toBe(5)
    expect(blocked.stderr).not.toContain('AKIAIOSFODNN7EXAMPLE')
    expect(existsSync(marker)).toBe(false)
  })

  test('unlock leaves it alone: the environment is the caller’s, never cached', () => {
    const r = sb.run(['unlock', '--key', 'FROM_CI', '--env', 'test', '--passphrase-fd', '3'], { ...fd3, env: { FROM_CI: 'ci-secret-1' } })
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('FROM_CI: os.envvar needs no unlock: `keyrack get` reads it directly')
  })
})

describe('os.daemon with EPHEMERAL_VIA_SESSION', () => {
  const sb = new Sandbox('kr-session')
  const SECRET = 'session-only-secret-7f3a'
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.run(['init', '--passphrase-fd', '3'], fd3).code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })
  const setSession = () =>
    sb.run(['set', '--key', 'SESSION_KEY', '--env', 'test', '--vault', 'os.daemon', '--mech', 'EPHEMERAL_VIA_SESSION', '--secret-stdin', '--passphrase-fd', '3', '--duration', '1h'], { ...fd3, input: SECRET })

  test('set puts it straight into the daemon; get serves it; no file anywhere holds it', () => {
    const r = setSession()
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('keyrack: set acme.test.SESSION_KEY in os.daemon via EPHEMERAL_VIA_SESSION (grade encrypted,ephemeral); round trip verified')
    const got = sb.run(['get', '--key', 'SESSION_KEY', '--env', 'test', '--output', 'json'])
    expect(got.code).toBe(0)
    const key = JSON.parse(got.stdout).keys[0]
    expect(key).toMatchObject({ state: 'granted', vault: 'os.daemon', mech: 'EPHEMERAL_VIA_SESSION', secret: SECRET, grade: { protection: 'encrypted', duration: 'ephemeral' } })
    expect(Date.parse(key.expiresAt) - Date.now()).toBeLessThanOrEqual(3_600_000)
    // HOME, KEYRACK_HOME, TMPDIR and the runtime dir all live under the sandbox
    expect(sb.filesContaining(SECRET)).toEqual([])
    const status = sb.run(['status', '--json'])
    expect(status.stdout).not.toContain(SECRET)
  })

  test('after a relock it is locked (set in os.daemon), and unlock without a terminal says how to pipe it in', () => {
    expect(sb.run(['relock']).code).toBe(0)
    const got = sb.run(['get', '--key', 'SESSION_KEY', '--env', 'test'])
    expect(got.code).toBe(4)
    expect(got.stderr).toMatch(/SESSION_KEY +locked +set in os\.daemon, not unlocked/)
    const unlock = sb.run(['unlock', '--key', 'SESSION_KEY', '--env', 'test'])
    expect(unlock.code).toBe(4)
    expect(unlock.stderr).toContain('EPHEMERAL_VIA_SESSION is typed at unlock, and there is no terminal here')
    expect(unlock.stderr).toContain('`printf %s "$SECRET" | keyrack set --key SESSION_KEY --env test --vault os.daemon --mech EPHEMERAL_VIA_SESSION --secret-stdin`')
    // no passphrase was needed: the inventory says where the key lives
    expect(unlock.stderr).not.toContain('passphrase')
  })

  test.skipIf(skipFor('tool', 'unlock of a session key on a terminal (python3 pty)', missingTool('python3')))('on a terminal, unlock asks for it (hidden), once, and the daemon holds it again', () => {
    const r = onTerminal(sb, ['unlock', '--key', 'SESSION_KEY', '--env', 'test', '--duration', '30m'], [
      { expect: 'SESSION_KEY for env test (kept in memory only, until this unlock ends): ', send: `${SECRET}${ENTER}` },
    ])
    expect(r.ok).toBe(true)
    expect(r.code).toBe(0)
    expect(r.out).not.toContain(SECRET)
    expect(r.out).toContain('keyrack: unlocked acme.test.SESSION_KEY (encrypted,ephemeral)')
    const got = sb.run(['get', '--key', 'SESSION_KEY', '--env', 'test', '--output', 'value'])
    expect({ code: got.code, stdout: got.stdout }).toEqual({ code: 0, stdout: `${SECRET}\n` })
    const exec = sb.run(['exec', '--key', 'SESSION_KEY', '--env', 'test', '--', 'sh', '-c', 'printf %s "$SESSION_KEY"'])
    expect({ code: exec.code, stdout: exec.stdout }).toEqual({ code: 0, stdout: SECRET })
    expect(sb.filesContaining(SECRET)).toEqual([])

    // relock: the daemon forgets it and nothing else ever had it, so it is gone until typed again
    expect(sb.run(['relock']).code).toBe(0)
    const after = sb.run(['get', '--key', 'SESSION_KEY', '--env', 'test'])
    expect(after.code).toBe(4)
    expect(after.stderr).toMatch(/SESSION_KEY +locked +set in os\.daemon, not unlocked/)
    const marker = join(sb.dir, 'session-ran')
    const refused = sb.run(['exec', '--key', 'SESSION_KEY', '--env', 'test', '--', 'touch', marker])
    expect(refused.code).toBe(4)
    expect(existsSync(marker)).toBe(false)
    expect(sb.filesContaining(SECRET)).toEqual([])
  })

  test('it can never reach a disk: not re-vaulted to os.direct, not stored in os.secure', () => {
    const direct = sb.run(['set', '--key', 'SESSION_KEY', '--env', 'test', '--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { ...fd3, input: SECRET })
    expect(direct.code).toBe(5)
    expect(direct.stderr).toContain("keyrack never lowers a key's protection")
    const secure = sb.run(['set', '--key', 'SESSION_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'EPHEMERAL_VIA_SESSION', '--secret-stdin', '--passphrase-fd', '3'], { ...fd3, input: SECRET })
    expect(secure.code).toBe(2)
    expect(secure.stderr).toContain('mech EPHEMERAL_VIA_SESSION cannot take its source from vault os.secure')
    expect(secure.stderr).toContain('use one of: --vault os.daemon')
    expect(sb.filesContaining(SECRET)).toEqual([])
    // the transcript shows the secret only where it was asked for on stdout (get's value and json, exec's child)
    const leaks = sb.transcript.filter((t) => t.includes(SECRET) && t !== `${SECRET}\n` && t !== SECRET && !t.includes('"secret"'))
    expect(leaks).toEqual([])
  })

  test('del forgets it in the daemon and removes the record', () => {
    expect(setSession().code).toBe(0)
    const del = sb.run(['del', '--key', 'SESSION_KEY', '--env', 'test', '--passphrase-fd', '3'], fd3)
    expect(del.code).toBe(0)
    const got = sb.run(['get', '--key', 'SESSION_KEY', '--env', 'test'])
    expect(got.code).toBe(4)
    expect(got.stderr).toMatch(/SESSION_KEY +absent/)
  })
})
