/**
 * os.keychain on Linux, through the compiled binary, against a REAL Secret Service: gnome-keyring
 * on a private D-Bus session bus that this suite starts and stops (tests/helpers/secret-service.ts),
 * its keyring files under the sandbox HOME.
 *
 *  - set → unlock → get/exec → relock → del with `--vault os.keychain`, under a passphrase-protected
 *    identity (the trap of issue 10: a keychain key must be served although the owner's identity
 *    needs a passphrase — unlock needs none, get none);
 *  - the item is what a user finds: `secret-tool lookup service keyrack account human:<slug>`;
 *  - newlines, quotes, unicode and the longest secret secret-tool takes (8191 bytes) round-trip
 *    exactly; 64 KiB is refused with the reason and os.secure, storing nothing;
 *  - every secret-tool keyrack ran is recorded from /proc/<pid>/cmdline: no secret in any of them,
 *    and none in any file of the sandbox (the keyring file is encrypted);
 *  - one `search --unlock` (one OS prompt at most) per unlock, however many keys;
 *  - a locked keyring with no prompt to show: `locked`, with what to do; no Secret Service at all
 *    (no session bus, or a bus without the service): the packages and `--vault os.secure`, and
 *    doctor says the same.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBinary, Sandbox, withoutShellStatus } from '../helpers/harness.ts'
import { secretServiceMissing, startSecretService, type SecretService } from '../helpers/secret-service.ts'
import { skipFor } from '../helpers/skips.ts'

setDefaultTimeout(90_000)
beforeAll(ensureBinary, 120_000)

const PASS = 'keychain-owner-pass-1'
const fd3 = { fds: { 3: `${PASS}\n` } }
const REPLICA = ['--mech', 'PERMANENT_VIA_REPLICA']
const SECRETS = {
  KC_LINES: 'kc-secret-first line\nsecond "line" with \'quotes\' and `ticks` $HOME \\ end\n',
  KC_UNICODE: 'kc-ключ 🔑 clé — 鍵',
  // the longest secret secret-tool stores whole, with a line break every 64 bytes
  KC_LONGEST: Array.from({ length: 200 }, (_, i) => `kc-longest-${String(i).padStart(4, '0')}-${'y'.repeat(47)}`).join('\n').slice(0, 8191),
}
const BIG = 'kc-big-'.padEnd(64 * 1024, 'z')
const MANIFEST = ['org: acme', 'env.test:', ...Object.keys(SECRETS).map((k) => `  - ${k}`), '  - KC_BIG', 'env.prep:', '  - KC_BIG', ''].join('\n')
/** what `--secret-stdin` is given: it drops one trailing newline, so the secret's own stay */
const stdinOf = (secret: string) => `${secret}\n`

/** a `secret-tool` first on PATH that records its own /proc/<pid>/cmdline, then becomes the real one */
function recordingSecretTool(sb: Sandbox): { binDir: string; cmdlines(): string[] } {
  const binDir = join(sb.dir, 'shim')
  const log = join(sb.dir, 'secret-tool-cmdlines.log')
  mkdirSync(binDir, { recursive: true })
  const real = Bun.which('secret-tool')!
  const shim = join(binDir, 'secret-tool')
  // one write per call (keyrack runs them concurrently): the line is built first
  writeFileSync(shim, `#!/bin/sh\nline=$(tr '\\000' ' ' < /proc/$$/cmdline)\nprintf '%s\\n' "$line" >> '${log}'\nexec '${real}' "$@"\n`)
  chmodSync(shim, 0o755)
  return { binDir, cmdlines: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) }
}

describe.skipIf(skipFor('tool', 'os.keychain against a real Secret Service (gnome-keyring)', secretServiceMissing()))('os.keychain on Linux (real gnome-keyring)', () => {
  const sb = new Sandbox('kr-keychain')
  let service: SecretService
  let shim: ReturnType<typeof recordingSecretTool>
  let env: Record<string, string>
  const run = (args: string[], options: { input?: string; fds?: Record<number, string>; env?: Record<string, string | undefined> } = {}) =>
    sb.run(args, { ...options, env: { ...env, ...options.env } })

  beforeAll(async () => {
    service = await startSecretService({ dir: sb.dir, home: sb.home, runtimeDir: sb.runtimeDir })
    shim = recordingSecretTool(sb)
    env = { ...service.env, PATH: `${shim.binDir}:${process.env.PATH}` }
    expect(run(['init', '--passphrase-fd', '3'], fd3).code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })
  afterAll(async () => {
    sb.run(['relock'])
    await service.stop()
    sb.cleanup()
  })

  test('set stores each secret in the keyring, where `secret-tool lookup` finds it exactly', () => {
    for (const [key, secret] of Object.entries(SECRETS)) {
      const r = run(['set', '--key', key, '--env', 'test', '--vault', 'os.keychain', ...REPLICA, '--secret-stdin', '--passphrase-fd', '3'], { ...fd3, input: stdinOf(secret) })
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining(`keyrack: set acme.test.${key} in os.keychain via PERMANENT_VIA_REPLICA (grade encrypted,permanent); round trip verified`) })
      expect(service.lookup(`human:acme.test.${key}`)).toEqual({ code: 0, stdout: secret })
    }
  })

  test('64 KiB is more than secret-tool carries: refused with the reason and os.secure, nothing stored', () => {
    const r = run(['set', '--key', 'KC_BIG', '--env', 'test', '--vault', 'os.keychain', ...REPLICA, '--secret-stdin', '--passphrase-fd', '3'], { ...fd3, input: stdinOf(BIG) })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('keyrack: error: the secret is 65536 bytes, and secret-tool carries at most 8191 bytes into the keychain; nothing was stored')
    expect(r.stderr).toContain('--vault os.secure')
    expect(service.lookup('human:acme.test.KC_BIG').code).toBe(1)
    const list = JSON.parse(run(['list', '--json', '--passphrase-fd', '3'], fd3).stdout) as { keys: { slug: string }[] }
    expect(list.keys.map((k) => k.slug)).not.toContain('acme.test.KC_BIG')
    // the hinted vault takes it (in another env: env test keeps only keychain keys)
    expect(run(['set', '--key', 'KC_BIG', '--env', 'prep', '--vault', 'os.secure', ...REPLICA, '--secret-stdin', '--passphrase-fd', '3'], { ...fd3, input: stdinOf(BIG) }).code).toBe(0)
  })

  test('before an unlock, get says locked and who must unlock; no passphrase is asked', () => {
    const r = run(['get', '--key', 'KC_LINES', '--env', 'test'])
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/KC_LINES +locked +set in os\.keychain, not unlocked/)
    expect(r.stderr).toContain('ask a human to run `keyrack unlock --for repo --env test`')
  })

  test('unlock needs no owner passphrase, opens the keyring once, and the daemon serves get and exec exactly', () => {
    const before = shim.cmdlines().length
    const unlock = run(['unlock', '--for', 'repo', '--env', 'test'])
    expect(unlock.code).toBe(0)
    expect(unlock.stdout).toMatch(/^KEYRACK_SOCK=.*; export KEYRACK_SOCK;\n/)
    expect(unlock.stderr).not.toContain('passphrase')
    for (const key of Object.keys(SECRETS)) expect(unlock.stderr).toContain(`keyrack: unlocked acme.test.${key} (encrypted,permanent)`)
    expect(unlock.stderr).toContain('keyrack: warning: KC_BIG: not set')
    const calls = shim.cmdlines().slice(before)
    expect(calls.filter((c) => c.includes(' search --unlock '))).toHaveLength(1)
    expect(calls.filter((c) => c.includes(' lookup '))).toHaveLength(Object.keys(SECRETS).length)

    const got = run(['get', '--key', 'KC_LINES', '--env', 'test', '--output', 'json'])
    expect(got.code).toBe(0)
    expect(JSON.parse(got.stdout).keys[0]).toMatchObject({ key: 'KC_LINES', state: 'granted', vault: 'os.keychain', secret: SECRETS.KC_LINES, grade: { protection: 'encrypted', duration: 'permanent' } })
    for (const [key, secret] of Object.entries(SECRETS)) {
      const value = run(['get', '--key', key, '--env', 'test', '--output', 'value'])
      expect({ code: value.code, stdout: value.stdout }).toEqual({ code: 0, stdout: `${secret}\n` })
      const exec = run(['exec', '--key', key, '--env', 'test', '--', 'sh', '-c', `printf %s "$${key}"`])
      expect({ code: exec.code, stdout: exec.stdout }).toEqual({ code: 0, stdout: secret })
    }
  })

  test('relock: locked again; the keyring still holds the items', () => {
    expect(run(['relock']).code).toBe(0)
    const r = run(['get', '--key', 'KC_UNICODE', '--env', 'test'])
    expect(r.code).toBe(4)
    expect(withoutShellStatus(r)).toBe('')
    expect(service.lookup('human:acme.test.KC_UNICODE')).toEqual({ code: 0, stdout: SECRETS.KC_UNICODE })
  })

  test('no secret in the argv of any secret-tool keyrack ran, nor in any file of the sandbox', () => {
    const calls = shim.cmdlines()
    expect(calls.length).toBeGreaterThan(10)
    expect(calls.some((c) => c.includes(' store --label=keyrack: acme.test.KC_LINES (owner human) service keyrack account human:acme.test.KC_LINES'))).toBe(true)
    for (const secret of [...Object.values(SECRETS), BIG]) {
      const probe = secret.slice(0, 24)
      expect(calls.filter((c) => c.includes(probe))).toEqual([])
      // HOME (the keyring files), KEYRACK_HOME, TMPDIR and the runtime dir all live under the sandbox
      expect(sb.filesContaining(probe)).toEqual([])
    }
  })

  test('del removes the item and the record', () => {
    const r = run(['del', '--key', 'KC_UNICODE', '--env', 'test', '--passphrase-fd', '3'], fd3)
    expect(r.code).toBe(0)
    expect(service.lookup('human:acme.test.KC_UNICODE').code).toBe(1)
    const got = run(['get', '--key', 'KC_UNICODE', '--env', 'test'])
    expect(got.code).toBe(4)
    expect(got.stderr).toMatch(/KC_UNICODE +absent/)
  })

  test('a locked keyring with no prompt to show (no desktop): unlock says locked and what to do', async () => {
    await service.lock()
    const r = run(['unlock', '--key', 'KC_LINES', '--env', 'test'])
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('keyrack: error: your Secret Service keyring is locked\nkeyrack: hint: unlock it in your desktop session (Seahorse: Passwords and Keys → Login → Unlock, or log in again)')
    expect(r.stderr).toContain('--vault os.secure')
    expect(withoutShellStatus(r)).toBe('')
  })

  test('no Secret Service here (no session bus; a bus without the service): the packages and os.secure; doctor says the same', async () => {
    const headless = { DBUS_SESSION_BUS_ADDRESS: undefined }
    const set = run(['set', '--key', 'KC_NEW', '--env', 'test', '--vault', 'os.keychain', ...REPLICA, '--secret-stdin', '--passphrase-fd', '3'], { ...fd3, input: 'kc-never-stored', env: headless })
    expect(set.code).toBe(6)
    expect(set.stderr).toContain('keyrack: error: vault os.keychain cannot be used here: no Secret Service here: no D-Bus session bus (a headless server or a container?)')
    expect(set.stderr).toContain('sudo apt-get install libsecret-tools gnome-keyring dbus-user-session')
    expect(set.stderr).toContain('--vault os.secure')
    // the owner keeps keys in os.keychain, so doctor warns (and says the fix)
    const doctor = run(['doctor'], { env: headless })
    expect(doctor.stdout).toMatch(/os\.keychain +warn +no Secret Service here: no D-Bus session bus/)
    expect(doctor.stderr).toContain('keyrack: hint: os.keychain: a Secret Service runs in a desktop login session (GNOME Keyring, KWallet); on Debian/Ubuntu: `sudo apt-get install libsecret-tools gnome-keyring dbus-user-session`')
    expect(doctor.stderr).toContain('--vault os.secure')

    const bare = await startSecretService({ dir: join(sb.dir, 'bare'), home: sb.home, runtimeDir: sb.runtimeDir, keyring: false })
    try {
      const r = run(['set', '--key', 'KC_NEW', '--env', 'test', '--vault', 'os.keychain', ...REPLICA, '--secret-stdin', '--passphrase-fd', '3'], { ...fd3, input: 'kc-never-stored', env: bare.env })
      expect(r.code).toBe(6)
      expect(r.stderr).toContain('keyrack: error: vault os.keychain cannot be used here: no Secret Service here: secret-tool: ')
      expect(r.stderr).toContain('--vault os.secure')
    } finally {
      await bare.stop()
    }
  })
})
