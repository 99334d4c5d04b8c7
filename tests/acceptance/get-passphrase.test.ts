/**
 * issue 9: with a passphrase-protected identity, `get` tells a key that was never set (`absent`, with
 * the set command) from one that is set but locked — with no passphrase at all; a passphrase given to
 * `get` without `--unlock` reads the vaults for that one call (nothing reaches the daemon); an empty
 * `--passphrase-stdin` says "no passphrase on stdin", not "wrong passphrase".
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { ensureBinary, Sandbox } from '../helpers/harness.ts'

setDefaultTimeout(60_000)
beforeAll(ensureBinary, 120_000)

const PASS = 'get-pass-1'
const fd3 = { fds: { 3: `${PASS}\n` } }

describe('get on a passphrase-protected identity, no daemon', () => {
  const sb = new Sandbox('kr-get-pass')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.run(['init', '--passphrase-fd', '3'], fd3).code).toBe(0)
    sb.writeRepoManifest(['org: acme', 'env.test:', '  - SET_KEY', '  - NEVER_SET', ''].join('\n'))
    const set = sb.run(['set', '--key', 'SET_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { ...fd3, input: 'set-secret-1' })
    expect(set.code).toBe(0)
  })

  test('absent and locked are told apart without the passphrase', () => {
    const r = sb.run(['get', '--for', 'repo', '--env', 'test'])
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/SET_KEY +locked +set, but not unlocked/)
    expect(r.stderr).toMatch(/NEVER_SET +absent +not in the host manifest/)
    expect(r.stderr).toContain('keyrack: hint: ask a human to run `keyrack unlock --for repo --env test`')
    expect(r.stderr).toContain('keyrack: hint: keyrack set --key NEVER_SET --env test --vault os.secure --mech <mech>')
    expect(r.stderr).not.toContain('a key that was never set')
  })

  test('--passphrase-fd without --unlock reads the vault for this call only', () => {
    const r = sb.run(['get', '--key', 'SET_KEY', '--env', 'test', '--output', 'value', '--passphrase-fd', '3'], fd3)
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: 'set-secret-1\n' })
    // nothing was handed to a daemon: the next process still finds it locked
    expect(sb.run(['get', '--key', 'SET_KEY', '--env', 'test']).code).toBe(4)
    expect(sb.run(['status', '--json']).stdout).not.toContain('SET_KEY')
  })

  test('an empty --passphrase-stdin is "no passphrase on stdin"', () => {
    const r = sb.run(['get', '--key', 'SET_KEY', '--env', 'test', '--passphrase-stdin'], { input: '' })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('keyrack: error: no passphrase on stdin')
    expect(r.stderr).not.toContain('wrong passphrase')
  })
})
