/**
 * `keyrack fill` from the compiled binary. Without a terminal it fails at once (exit 2) with the
 * exact commands and writes nothing; on a terminal (a real pseudo-terminal, driven by a small
 * python3 `pty` helper that waits for each prompt and types keys) it guides a `set` for an absent
 * key, unlocks a locked one with a single passphrase prompt, and a cancel writes nothing.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { readFileSync } from 'node:fs'
import { ensureBinary, Sandbox } from '../helpers/harness.ts'
import { CTRL_C, ENTER, onTerminal } from '../helpers/pty.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'

setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const MANIFEST = ['org: acme', 'env.test:', '  - key: A_KEY', '    mech: PERMANENT_VIA_REPLICA', '  - B_KEY', ''].join('\n')
const ONE_KEY = ['org: acme', 'env.test:', '  - key: A_KEY', '    mech: PERMANENT_VIA_REPLICA', ''].join('\n')

/** every file under the sandbox's keyrack home with its bytes: "nothing written" means this is unchanged */
const snapshot = (sb: Sandbox) => Object.fromEntries(sb.files(sb.keyrackHome).filter((f) => !/\.lock\./.test(f)).map((f) => [f, readFileSync(f).toString('base64')]))

describe('fill without a terminal', () => {
  const sb = new Sandbox('kr-fill')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })

  test('exits 2 at once, lists the exact set commands, writes nothing', () => {
    const before = snapshot(sb)
    const r = sb.run(['fill', '--env', 'test'], { timeoutMs: 10_000 })
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' })
    expect(r.stderr).toStartWith('keyrack: error: no terminal to fill env test in (0 of 2 ready; absent: A_KEY, B_KEY)\n')
    expect(r.stderr).toContain('keyrack: hint: run: `keyrack set --key A_KEY --env test --vault os.secure --mech PERMANENT_VIA_REPLICA`\n')
    expect(r.stderr).toContain('keyrack: hint: run: `keyrack set --key B_KEY --env test --vault os.secure --mech <mech>`\n')
    expect(r.stderr).toContain('--secret-stdin')
    expect(snapshot(sb)).toEqual(before)
  })

  test('--vault and --mech show in the commands; unknown ones are refused before anything else', () => {
    const r = sb.run(['fill', '--env', 'test', '--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('`keyrack set --key B_KEY --env test --vault os.direct --mech PERMANENT_VIA_REPLICA`')
    const bad = sb.run(['fill', '--env', 'test', '--vault', 'nope'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("unknown vault 'nope'")
  })

  test('a locked key: the unlock command; once every key is granted, fill just prints the table (exit 0)', () => {
    const locked = new Sandbox('kr-fill-locked')
    try {
      expect(locked.run(['init', '--passphrase-fd', '3'], { fds: { 3: 'pw-fill\n' } }).code).toBe(0)
      locked.writeRepoManifest(ONE_KEY)
      expect(locked.run(['set', '--key', 'A_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { input: 'secret-a', fds: { 3: 'pw-fill\n' } }).code).toBe(0)
      const r = locked.run(['fill', '--env', 'test'])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('keyrack: hint: run: `keyrack unlock --for repo --env test`\n')
      // the inventory knows A_KEY was set: no "if it was never set" guess
      expect(r.stderr).not.toContain('never set')
    } finally {
      locked.cleanup()
    }
    const ready = new Sandbox('kr-fill-ready')
    try {
      expect(ready.initUnprotected().code).toBe(0)
      ready.writeRepoManifest(ONE_KEY)
      expect(ready.set('A_KEY', 'test', 'secret-a').code).toBe(0)
      const r = ready.run(['fill', '--env', 'test'])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^KEY\s+STATE\s+GRADE\s+VAULT\s+MECH\s+EXPIRES\nA_KEY\s+granted\s+encrypted,permanent\s+os\.secure\s+PERMANENT_VIA_REPLICA\n$/)
      expect(r.stdout + r.stderr).not.toContain('secret-a')
      expect(r.stderr).toContain('env test is ready')
    } finally {
      ready.cleanup()
    }
  })
})

// ---- on a terminal: a real pty, driven by python3 ----

const noPty = skipFor('tool', 'fill on a terminal (python3 pty)', missingTool('python3'))

describe.skipIf(noPty)('fill on a terminal', () => {
  const sandboxes: Sandbox[] = []
  afterAll(() => sandboxes.forEach((s) => s.cleanup()))
  const sandbox = (name: string) => {
    const sb = new Sandbox(name)
    sandboxes.push(sb)
    return sb
  }

  test('an absent key: the vault prompt (os.secure first), no mech prompt (the repo requires one), the hidden secret → get grants it', () => {
    const sb = sandbox('kr-fill-pty')
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(ONE_KEY)
    const r = onTerminal(sb, ['fill', '--env', 'test'], [
      { expect: 'where should A_KEY be stored?', send: ENTER },
      { expect: 'secret for A_KEY (input hidden): ', send: `typed-secret-a${ENTER}` },
    ])
    expect(r.ok).toBe(true)
    expect(r.code).toBe(0)
    expect(r.out).toContain('keyrack: mech: PERMANENT_VIA_REPLICA (required by the repo manifest)')
    expect(r.out).not.toContain('become a usable key')
    // os.secure is offered first, and is what Enter picks
    expect(r.out.indexOf('os.secure (encrypted)')).toBeLessThan(r.out.indexOf('os.direct (plaintext)'))
    expect(r.out).toContain('keyrack: set acme.test.A_KEY in os.secure via PERMANENT_VIA_REPLICA (grade encrypted,permanent); round trip verified')
    expect(r.out).toMatch(/A_KEY\s+granted\s+encrypted,permanent\s+os\.secure/)
    expect(r.out).toContain('env test is ready')
    expect(r.out).not.toContain('typed-secret-a')
    const got = sb.run(['get', '--for', 'repo', '--env', 'test'])
    expect({ code: got.code, stdout: got.stdout }).toEqual({ code: 0, stdout: "export A_KEY='typed-secret-a'\n" })
  })

  test('a locked key: one passphrase prompt unlocks it into the daemon → get grants it', () => {
    const sb = sandbox('kr-fill-pty-locked')
    expect(sb.run(['init', '--passphrase-fd', '3'], { fds: { 3: 'pw-fill\n' } }).code).toBe(0)
    sb.writeRepoManifest(ONE_KEY)
    const set = sb.run(['set', '--key', 'A_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { input: 'locked-secret-a', fds: { 3: 'pw-fill\n' } })
    expect(set.code).toBe(0)
    expect(sb.run(['get', '--for', 'repo', '--env', 'test']).code).toBe(4)
    const r = onTerminal(sb, ['fill', '--env', 'test'], [{ expect: "passphrase for the keyrack identity of owner 'human': ", send: `pw-fill${ENTER}` }])
    expect(r.ok).toBe(true)
    expect(r.code).toBe(0)
    expect(r.out.split('passphrase for the keyrack identity').length - 1).toBe(1)
    expect(r.out).toContain('keyrack: unlocked acme.test.A_KEY until ')
    expect(r.out).toContain('env test is ready')
    expect(r.out).not.toContain('pw-fill')
    expect(r.out).not.toContain('locked-secret-a')
    const got = sb.run(['get', '--for', 'repo', '--env', 'test'])
    expect({ code: got.code, stdout: got.stdout }).toEqual({ code: 0, stdout: "export A_KEY='locked-secret-a'\n" })
  })

  test('Ctrl-C at the vault prompt: exit 2, cancelled, nothing written', () => {
    const sb = sandbox('kr-fill-pty-cancel')
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
    const before = snapshot(sb)
    const r = onTerminal(sb, ['fill', '--env', 'test'], [{ expect: 'where should A_KEY be stored?', send: CTRL_C }])
    expect(r.ok).toBe(true)
    expect(r.code).toBe(2)
    expect(r.out).toContain('keyrack: error: cancelled')
    expect(r.out).toContain('keyrack: hint: nothing was written')
    expect(r.out).not.toContain('secret for A_KEY')
    expect(snapshot(sb)).toEqual(before)
    expect(sb.run(['get', '--for', 'repo', '--env', 'test']).code).toBe(4)
  })
})
