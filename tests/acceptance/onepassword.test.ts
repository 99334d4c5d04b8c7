/**
 * The 1password vault through the compiled binary, as a user works with it, against the fake
 * `op` (tests/fakes/op.ts) first on PATH, under a passphrase-protected identity:
 *
 *   set (the secret on stdin: keyrack creates the item) → unlock on a terminal, with one
 *   passphrase and ONE `op signin` for every 1Password key → get / exec → relock → del;
 *   signed out without a terminal: the command to run, which works when pasted; the firewall on
 *   what 1Password holds; the grade (`encrypted`) and never-degrade; the owner's scope; no secret
 *   in any argv (the fake fails the call), in stderr, or in a file keyrack wrote.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ensureBinary, Sandbox } from '../helpers/harness.ts'
import { onTerminal } from '../helpers/pty.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'
import { installFakeOp, type FakeOp } from '../fakes/op.ts'

setDefaultTimeout(180_000)
beforeAll(ensureBinary, 120_000)

const PASS = 'pw-1password-acceptance'
const REPLICA = ['--vault', '1password', '--mech', 'PERMANENT_VIA_REPLICA']
/** keys whose items keyrack creates, and one that points at an item the user already has */
const OP_KEYS = ['XAI_API_KEY', 'OPENAI_API_KEY', 'MISTRAL_API_KEY']
const REF_KEY = 'ANTHROPIC_API_KEY'
const REF = 'op://Shared/anthropic/credential'
const SECURE_KEYS = ['SECURE_ONE']
const secretOf = (key: string) => `${key.toLowerCase().replaceAll('_', '-')}-1p-secret-${key.length}7f3`
const MANIFEST = `org: acme\nenv.test:\n${[...OP_KEYS, REF_KEY, ...SECURE_KEYS].map((k) => `  - ${k}\n`).join('')}`
const pass = { fds: { 3: `${PASS}\n` } }

describe.skipIf(skipFor('tool', '1password on a terminal (python3 pty)', missingTool('python3')))('1password, end to end', () => {
  const sb = new Sandbox('kr-1password')
  let op: FakeOp
  /** the env of a shell where the user ran `eval "$(op signin)"` */
  let signedIn: Record<string, string>
  const opEnv = (): Record<string, string> => ({ PATH: `${op.binDir}:${process.env.PATH}`, ...op.env })
  /** what keyrack said to the human (stderr, and a terminal's whole screen) */
  const said: string[] = []
  const run = (args: string[], options: { input?: string; env?: Record<string, string>; passphrase?: boolean } = {}) => {
    const r = sb.run(options.passphrase === false ? args : [...args, '--passphrase-fd', '3'], { input: options.input, env: { ...opEnv(), ...options.env }, ...(options.passphrase === false ? {} : pass) })
    said.push(r.stderr)
    return r
  }
  const unlockOnTerminal = () =>
    onTerminal(sb, ['unlock', '--for', 'repo', '--env', 'test'], [
      { expect: 'passphrase', send: `${PASS}\r` },
      { expect: 'Enter the password for dev@keyrack.test', send: `${op.password}\r` },
    ], { env: opEnv(), timeout: 60 })

  beforeAll(() => {
    op = installFakeOp(sb.dir)
    signedIn = op.signIn()
    expect(sb.run(['init', '--passphrase-fd', '3'], pass).code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })
  afterAll(() => sb.cleanup())

  test('set without a session and without a terminal: the command to run first, nothing stored', () => {
    const r = run(['set', '--key', 'XAI_API_KEY', '--env', 'test', ...REPLICA, '--secret-stdin'], { input: secretOf('XAI_API_KEY') })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('keyrack: error: 1Password is not signed in, and there is no terminal here to sign in on')
    expect(r.stderr).toContain('keyrack: hint: sign in to 1Password in this shell first: `eval "$(op signin)"`')
    expect(op.state().items).toEqual([])
  })

  test('set (the secret on stdin) creates one item per key, tagged keyrack; os.secure keys beside them', () => {
    for (const key of OP_KEYS) {
      const r = run(['set', '--key', key, '--env', 'test', ...REPLICA, '--secret-stdin'], { input: secretOf(key), env: signedIn })
      expect({ key, code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 })
      expect(r.stderr).toContain(`keyrack: set acme.test.${key} in 1password via PERMANENT_VIA_REPLICA (grade encrypted,permanent); round trip verified`)
    }
    for (const key of SECURE_KEYS) expect(run(['set', '--key', key, '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], { input: secretOf(key) }).code).toBe(0)
    const items = op.state().items
    expect(items.map((i) => i.title).sort()).toEqual(OP_KEYS.map((k) => `keyrack human:acme.test.${k}`).sort())
    for (const item of items) expect(item.tags).toEqual(['keyrack'])
    const listed = run(['list'], { passphrase: true })
    expect(listed.stdout).toMatch(/acme\.test\.XAI_API_KEY\s+1password\s+PERMANENT_VIA_REPLICA\s+encrypted,permanent/)
  })

  test('set --exid points at an item the user has: only the reference is kept, no item made', () => {
    op.addItem({ vault: 'Shared', title: 'anthropic', fields: { credential: secretOf(REF_KEY) } })
    const items = op.state().items.length
    const r = run(['set', '--key', REF_KEY, '--env', 'test', '--vault', '1password', '--mech', 'PERMANENT_VIA_REFERENCE', '--exid', REF], { env: signedIn })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`keyrack: set acme.test.${REF_KEY} in 1password via PERMANENT_VIA_REFERENCE (grade encrypted,permanent); round trip verified`)
    expect(op.state().items).toHaveLength(items)
  })

  test('unlock on a terminal: one passphrase and one op signin for all four 1Password keys; the session ends with the unlock', () => {
    const signinsBefore = op.state().signins
    const readsBefore = op.count('read')
    const r = unlockOnTerminal()
    said.push(r.out)
    expect(r.missing).toBeNull()
    expect(r.code).toBe(0)
    for (const key of [...OP_KEYS, REF_KEY, ...SECURE_KEYS]) expect(r.out).toContain(`keyrack: unlocked acme.test.${key} (encrypted,permanent)`)
    // the account password was typed into op (the prompt is op's), once, and never echoed
    expect(r.out.match(/Enter the password for/g)).toHaveLength(1)
    expect(r.out).not.toContain(op.password)
    expect(op.state().signins - signinsBefore).toBe(1)
    expect(op.count('read') - readsBefore).toBe(OP_KEYS.length + 1)
    // keyrack signed out the session it opened: nothing of it outlives the unlock
    expect(op.calls().at(-1)!.argv).toEqual(['signout'])
    expect(Object.keys(op.state().sessions)).toEqual([signedIn[op.sessionVar]!])
  })

  test('get and exec serve the keys from the daemon, graded encrypted; 1Password is not asked again', () => {
    const calls = op.calls().length
    const json = run(['get', '--for', 'repo', '--env', 'test', '--output', 'json'], { passphrase: false })
    expect(json.code).toBe(0)
    const { keys } = JSON.parse(json.stdout) as { keys: { key: string; state: string; vault: string; secret: string; grade: unknown }[] }
    for (const key of [...OP_KEYS, REF_KEY]) {
      const granted = keys.find((k) => k.key === key)!
      expect(granted).toMatchObject({ state: 'granted', vault: '1password', secret: secretOf(key), grade: { protection: 'encrypted', duration: 'permanent' } })
    }
    const exec = run(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'printf "%s" "$XAI_API_KEY" | sha256sum'], { passphrase: false })
    expect(exec.code).toBe(0)
    expect(exec.stdout.split(' ')[0]).toBe(new Bun.CryptoHasher('sha256').update(secretOf('XAI_API_KEY')).digest('hex'))
    expect(op.calls().length).toBe(calls)
  })

  test('relock: the keys are locked again, with the unlock command', () => {
    expect(run(['relock'], { passphrase: false }).code).toBe(0)
    const r = run(['get', '--for', 'repo', '--env', 'test'], { passphrase: false })
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/XAI_API_KEY\s+locked/)
    expect(r.stderr).toContain('keyrack unlock --for repo --env test')
  })

  test('signed out without a terminal, unlock skips the 1Password keys saying what to run; pasted into the shell, it works', () => {
    const partial = run(['unlock', '--for', 'repo', '--env', 'test'])
    expect(partial.code).toBe(0)
    expect(partial.stderr).toContain('keyrack: unlocked acme.test.SECURE_ONE')
    expect(partial.stderr).toContain(
      'keyrack: warning: XAI_API_KEY: 1password: 1Password is not signed in, and there is no terminal here to sign in on; sign in to 1Password in this shell first: `eval "$(op signin)"`',
    )
    expect(op.count('signin')).toBe(1)
    const hint = /sign in to 1Password in this shell first: `([^`]+)`/.exec(partial.stderr)?.[1]
    expect(hint).toBe('eval "$(op signin)"')
    const passFile = join(sb.dir, 'passphrase')
    writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 })
    const shell = onTerminal(sb, [], [{ expect: 'Enter the password for dev@keyrack.test', send: `${op.password}\r` }], {
      argv: ['/bin/bash', '-c', `${hint} && "${BIN}" unlock --for repo --env test --passphrase-fd 3 3<${passFile}`],
      env: opEnv(),
      timeout: 60,
    })
    said.push(shell.out)
    expect(shell.missing).toBeNull()
    expect(shell.code).toBe(0)
    expect(shell.out).toContain('keyrack: unlocked acme.test.XAI_API_KEY (encrypted,permanent)')
    // the session was the user's (their shell's): keyrack did not sign it out
    expect(op.calls().at(-1)!.argv[0]).toBe('read')
    expect(run(['relock'], { passphrase: false }).code).toBe(0)
  })

  test('del removes the item keyrack created; the key is gone from keyrack too', () => {
    const before = op.state().items.length
    const r = run(['del', '--key', 'MISTRAL_API_KEY', '--env', 'test'], { env: signedIn })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('keyrack: removed acme.test.MISTRAL_API_KEY (and its secret in 1password)')
    expect(op.state().items).toHaveLength(before - 1)
    expect(op.state().items.some((i) => i.title.endsWith('MISTRAL_API_KEY'))).toBe(false)
    // the item the user pointed keyrack at is theirs: forgotten, not deleted
    const forgot = run(['del', '--key', REF_KEY, '--env', 'test'], { env: signedIn })
    expect(forgot.code).toBe(0)
    expect(forgot.stderr).toContain(`keyrack: removed acme.test.${REF_KEY} from keyrack; the 1Password item at ${REF} is yours and was left as it is (keyrack only forgot the reference)`)
    expect(op.read(REF)).toBe(secretOf(REF_KEY))
  })

  test('no secret reached an argv, stderr, or a file keyrack wrote', () => {
    expect(op.leaks()).toEqual([])
    const secrets = [...OP_KEYS.map(secretOf), secretOf(REF_KEY), op.password, signedIn[op.sessionVar]!]
    for (const secret of secrets) {
      expect(said.some((text) => text.includes(secret)) ? secret : null).toBeNull()
      // the fake's own store is 1Password's; everything else in the sandbox is keyrack's or the user's
      expect(sb.filesContaining(secret, (f) => f.startsWith(op.stateDir))).toEqual([])
    }
  })
})

/**
 * What applies to every key applies to 1Password keys: never-degrade, the firewall, the owner's
 * scope. An unprotected identity here (the identity is not what these test; scrypt is slow).
 */
describe('1password under the rules every vault follows', () => {
  const sb = new Sandbox('kr-1password-rules')
  let op: FakeOp
  let signedIn: Record<string, string>
  const opEnv = (): Record<string, string> => ({ PATH: `${op.binDir}:${process.env.PATH}`, ...op.env })
  const run = (args: string[], options: { input?: string; env?: Record<string, string>; passphrase?: boolean } = {}) =>
    sb.run(args, { input: options.input, env: { ...opEnv(), ...options.env } })

  beforeAll(() => {
    op = installFakeOp(sb.dir)
    signedIn = op.signIn()
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
    for (const key of OP_KEYS) expect(run(['set', '--key', key, '--env', 'test', ...REPLICA, '--secret-stdin'], { input: secretOf(key), env: signedIn }).code).toBe(0)
  })
  afterAll(() => sb.cleanup())

  test('never degrade: a 1Password key is not moved to plaintext os.direct', () => {
    const r = run(['set', '--key', 'XAI_API_KEY', '--env', 'test', '--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], { input: 'anything-else', env: signedIn })
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('refusing to move acme.test.XAI_API_KEY from encrypted,permanent (1password) to plaintext,permanent (os.direct)')
  })

  test('the firewall applies to what 1Password holds: a long-lived GitHub token there is not unlocked', () => {
    // someone pasted a classic PAT into the item behind OPENAI_API_KEY
    const pat = `ghp_${'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'.slice(0, 36)}`
    const item = op.state().items.find((i) => i.title.endsWith('OPENAI_API_KEY'))!
    op.setField(item.id, 'credential', pat)
    const r = run(['unlock', '--for', 'repo', '--env', 'test'], { env: signedIn })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('keyrack: warning: OPENAI_API_KEY: blocked: a github classic personal access token (ghp_…), long-lived')
    expect(r.stderr).not.toContain(pat)
    expect(r.stderr).toContain('keyrack: unlocked acme.test.XAI_API_KEY')
    const get = run(['get', '--key', 'OPENAI_API_KEY', '--env', 'test'], { passphrase: false })
    expect(get.code).not.toBe(0)
    expect(get.stdout).not.toContain(pat)
    op.setField(item.id, 'credential', secretOf('OPENAI_API_KEY'))
    expect(run(['relock'], { passphrase: false }).code).toBe(0)
  })

  test("the owner's scope: a key in a 1Password vault outside it is refused at unlock, and the hinted command lets it in", () => {
    expect(run(['policy', '--scope', '1password=Dev']).code).toBe(0)
    expect(run(['policy'], { passphrase: false }).stdout).toContain('scope         1password: Dev\n')
    const reads = op.count('read')
    const refused = run(['unlock', '--for', 'repo', '--env', 'test'], { env: signedIn })
    expect(refused.code).toBe(10)
    expect(refused.stderr).toMatch(/keyrack: error: acme\.test\.\w+_API_KEY points into the 1Password vault 'Private', outside the vaults keyrack may read \(Dev\)/)
    expect(op.count('read')).toBe(reads)
    const widen = /`(keyrack policy --scope [^`]+)`/.exec(refused.stderr)![1]!
    expect(widen).toBe('keyrack policy --scope 1password=Dev,Private')
    expect(run(widen.split(' ').slice(1)).code).toBe(0)
    const r = run(['unlock', '--for', 'repo', '--env', 'test'], { env: signedIn })
    expect(r.code).toBe(0)
    expect(run(['relock'], { passphrase: false }).code).toBe(0)
  })

  test('no secret reached an argv', () => expect(op.leaks()).toEqual([]))
})
