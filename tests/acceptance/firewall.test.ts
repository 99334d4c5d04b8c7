/**
 * The firewall against long-lived keys (SPEC §12), through the binary: `set` refuses to store a
 * long-lived credential that has a short-lived alternative, `get`/`exec` refuse to serve one,
 * `allow: long-lived` + `reason:` is the reviewed exception, and keys with no alternative are
 * stored with a label. Every credential here is a fake (AWS documentation examples, EXAMPLE
 * suffixes); the transcript is searched so none of them reaches a message.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { Sandbox, withoutShellStatus } from '../helpers/harness.ts'

const AKIA = 'AKIAIOSFODNN7EXAMPLE'
const ASIA = 'ASIAIOSFODNN7EXAMPLE'
const GHP = `ghp_${'x'.repeat(29)}EXAMPLE`
const GHS = `ghs_${'x'.repeat(29)}EXAMPLE`
const ANTHROPIC = `sk-ant-api03-${'x'.repeat(86)}EXAMPLEAA`
const FAKES = [AKIA, ASIA, GHP, GHS, ANTHROPIC]

const MANIFEST = `org: acme
env.test:
  - AWS_ACCESS_KEY_ID
  - GITHUB_TOKEN
`

let sandbox: Sandbox

beforeEach(() => {
  sandbox = new Sandbox('keyrack-firewall')
  sandbox.writeRepoManifest(MANIFEST)
})
afterEach(() => {
  // the one rule that always holds: no fake credential ever reaches a message (stderr); only
  // `get`'s stdout, which the user asked for, may carry one (run() records stdout, stderr pairs)
  const stderr = sandbox.transcript.filter((_, i) => i % 2 === 1).join('\n')
  for (const fake of FAKES) expect(stderr).not.toContain(fake)
  sandbox.cleanup()
})

describe('set refuses long-lived credentials that have a short-lived alternative', () => {
  beforeEach(() => {
    expect(sandbox.initUnprotected().code).toBe(0)
  })

  test('an AWS IAM user key (AKIA…): exit 5, the sso replacement named with the key it grants', () => {
    const r = sandbox.set('AWS_ACCESS_KEY_ID', 'test', AKIA)
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('keyrack: error: refusing to store an aws access key id of an iam user (AKIA…), long-lived as AWS_ACCESS_KEY_ID')
    expect(r.stderr).toContain('keyrack: hint: replace it with: keyrack set --key AWS_PROFILE --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO')
    expect(r.stderr).toContain('EPHEMERAL_VIA_AWS_SSO grants AWS_PROFILE, not AWS_ACCESS_KEY_ID')
    expect(r.stderr).toContain('in place of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY')
    expect(r.stderr).toContain('`allow: long-lived` and a `reason:`')
    // nothing stored
    const list = sandbox.run(['list'])
    expect(list.stdout + list.stderr).not.toContain('AWS_ACCESS_KEY_ID')
    expect(sandbox.filesContaining(AKIA)).toEqual([])
  })

  test('a GitHub classic PAT (ghp_…): exit 5, the github app command for the same key', () => {
    const r = sandbox.set('GITHUB_TOKEN', 'test', GHP)
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('refusing to store a github classic personal access token (ghp_…), long-lived as GITHUB_TOKEN')
    expect(r.stderr).toContain('keyrack: hint: replace it with: keyrack set --key GITHUB_TOKEN --env test --vault os.secure --mech EPHEMERAL_VIA_GITHUB_APP')
    expect(sandbox.filesContaining(GHP)).toEqual([])
  })

  test('a long-lived key inside a larger value (KEY=…, a credentials file) is caught too', () => {
    const wrapped = sandbox.set('AWS_ACCESS_KEY_ID', 'test', `AWS_ACCESS_KEY_ID=${AKIA}`)
    expect(wrapped.code).toBe(5)
    expect(wrapped.stderr).toContain('refusing to store a value containing an aws access key id')
    const file = sandbox.set('AWS_CREDENTIALS', 'test', `[default]\naws_access_key_id = ${AKIA}\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n`)
    expect(file.code).toBe(5)
    expect(sandbox.filesContaining(AKIA)).toEqual([])
  })

  test('an encoded, padded or drifted long-lived key is caught too, and the message says how it was wrapped', () => {
    const credentials = `[default]\naws_access_key_id = ${AKIA}\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n`
    const encoded = sandbox.set('AWS_CREDENTIALS', 'test', Buffer.from(credentials).toString('base64'))
    expect(encoded.code).toBe(5)
    expect(encoded.stderr).toContain('refusing to store a base64-encoded value containing an aws access key id')
    const escaped = sandbox.set('GITHUB_TOKEN', 'test', `{"token":"\\u0067hp_${'x'.repeat(29)}EXAMPLE"}`)
    expect(escaped.code).toBe(5)
    expect(escaped.stderr).toContain('refusing to store an escaped value containing a github classic personal access token')
    const padded = sandbox.set('AWS_ACCESS_KEY_ID', 'test', `\u001b[0m${AKIA}\u0000`)
    expect(padded.code).toBe(5)
    // github may lengthen its tokens: a longer ghp_ is still a classic PAT (gitleaks: ghp_[0-9a-zA-Z]{36}, unanchored)
    const longer = sandbox.set('GITHUB_TOKEN', 'test', `ghp_${'x'.repeat(45)}EXAMPLE`)
    expect(longer.code).toBe(5)
    for (const r of [encoded, escaped, padded, longer]) expect(r.stderr).toContain('keyrack: hint: replace it with: keyrack set --key')
    const list = sandbox.run(['list'])
    expect(list.stdout + list.stderr).not.toMatch(/AWS_CREDENTIALS|GITHUB_TOKEN|AWS_ACCESS_KEY_ID/)
  })

  test('a temporary STS key (ASIA…) and an installation token (ghs_…) are stored', () => {
    expect(sandbox.set('AWS_ACCESS_KEY_ID', 'test', ASIA).code).toBe(0)
    expect(sandbox.set('GITHUB_TOKEN', 'test', GHS).code).toBe(0)
    const r = sandbox.run(['get', '--for', 'repo', '--env', 'test', '--output', 'exports'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`export AWS_ACCESS_KEY_ID='${ASIA}'`)
    expect(r.stdout).toContain(`export GITHUB_TOKEN='${GHS}'`)
  })

  test('a key with no short-lived alternative (anthropic sk-ant-…) is stored, with a warning that labels it', () => {
    const r = sandbox.set('ANTHROPIC_API_KEY', 'test', ANTHROPIC)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('keyrack: warning: ANTHROPIC_API_KEY is an anthropic api key (sk-ant-api03-…), long-lived; keyrack stores it because anthropic offers no short-lived alternative')
    expect(r.stderr).toContain('round trip verified')
  })
})

describe('get and exec refuse to serve them', () => {
  test('a long-lived key that arrives via the environment (not CI): blocked, exit 5, no key emitted', () => {
    const r = sandbox.run(['get', '--for', 'repo', '--env', 'test', '--output', 'exports'], {
      env: { AWS_ACCESS_KEY_ID: ASIA, GITHUB_TOKEN: GHP },
    })
    expect(r.code).toBe(5)
    expect(withoutShellStatus(r)).toBe('')
    expect(r.stderr).toContain('keyrack: error: 1 of 2 keys not granted: GITHUB_TOKEN (blocked)')
    expect(r.stderr).toMatch(/GITHUB_TOKEN\s+blocked\s+a github classic personal access token \(ghp_…\), long-lived, from the environment/)
    expect(r.stderr).toMatch(/AWS_ACCESS_KEY_ID\s+granted/)
    expect(r.stderr).toContain('keyrack: hint: replace it with: keyrack set --key GITHUB_TOKEN --env test --vault os.secure --mech EPHEMERAL_VIA_GITHUB_APP')
    // outside CI the github actions advice is not shown
    expect(r.stderr).not.toContain('create-github-app-token')
  })

  test('a long-lived key hidden from a naive check (zero-width space, percent-encoding) is refused from the environment too', () => {
    const r = sandbox.run(['get', '--for', 'repo', '--env', 'test', '--output', 'exports'], {
      env: { AWS_ACCESS_KEY_ID: `\u200b${AKIA}`, GITHUB_TOKEN: `https%3A%2F%2F${GHP}%40github.com` },
    })
    expect(r.code).toBe(5)
    expect(withoutShellStatus(r)).toBe('')
    expect(r.stderr).toMatch(/AWS_ACCESS_KEY_ID\s+blocked\s+an aws access key id/)
    expect(r.stderr).toMatch(/GITHUB_TOKEN\s+blocked\s+a percent-encoded value containing a github classic personal access token/)
  })

  test('a blocked key is all or nothing for exec too: the command never runs', () => {
    const marker = `${sandbox.dir}/ran`
    const r = sandbox.run(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', `touch ${marker}`], {
      env: { AWS_ACCESS_KEY_ID: AKIA, GITHUB_TOKEN: GHS },
    })
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/AWS_ACCESS_KEY_ID\s+blocked/)
    expect(sandbox.files(sandbox.dir).includes(marker)).toBe(false)
  })

  test('a long-lived key stored under an exception is refused once the exception is removed', () => {
    expect(sandbox.initUnprotected().code).toBe(0)
    sandbox.writeRepoManifest(`org: acme
env.test:
  - key: GITHUB_TOKEN
    allow: long-lived
    reason: the vendor's webhook api takes only classic tokens
`)
    expect(sandbox.set('GITHUB_TOKEN', 'test', GHP).code).toBe(0)
    sandbox.writeRepoManifest('org: acme\nenv.test:\n  - GITHUB_TOKEN\n')
    const r = sandbox.run(['get', '--for', 'repo', '--env', 'test', '--output', 'exports'])
    expect(r.code).toBe(5)
    expect(withoutShellStatus(r)).toBe('')
    expect(r.stderr).toMatch(/GITHUB_TOKEN\s+blocked\s+a github classic personal access token/)
    expect(r.stderr).not.toContain('from the environment')
  })
})

describe('the refusal points at the exact replacement command', () => {
  /** the command of the `replace it with:` hint, as a user would paste it */
  const replacement = (stderr: string): string[] => {
    const line = stderr.split('\n').find((l) => l.startsWith('keyrack: hint: replace it with: keyrack '))
    if (line === undefined) throw new Error(`no replacement hint in:\n${stderr}`)
    return line.slice('keyrack: hint: replace it with: keyrack '.length).split(' ')
  }

  test('outside a repo, for another owner: the hint keeps --org and --owner, and keyrack accepts its arguments', () => {
    expect(sandbox.initUnprotected('mechanic').code).toBe(0)
    const cases: [string, string, string[]][] = [
      ['AWS_ACCESS_KEY_ID', AKIA, ['set', '--key', 'AWS_PROFILE', '--env', 'test', '--org', '@all', '--vault', 'aws.config', '--mech', 'EPHEMERAL_VIA_AWS_SSO', '--owner', 'mechanic']],
      ['GITHUB_TOKEN', GHP, ['set', '--key', 'GITHUB_TOKEN', '--env', 'test', '--org', '@all', '--vault', 'os.secure', '--mech', 'EPHEMERAL_VIA_GITHUB_APP', '--owner', 'mechanic']],
    ]
    for (const [key, secret, expected] of cases) {
      const refused = sandbox.run(['set', '--key', key, '--env', 'test', '--org', '@all', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--owner', 'mechanic', '--secret-stdin'], { input: secret, cwd: sandbox.home })
      expect(refused.code).toBe(5)
      const command = replacement(refused.stderr)
      expect(command).toEqual(expected)
      // pasted as is, keyrack takes every argument; it stops at a mech this version lacks, or (with
      // no terminal) at the guided set's questions — repeating the same command, never at its form
      const pasted = sandbox.run(command, { cwd: sandbox.home })
      if (pasted.code !== 0)
        expect(pasted.stderr).toMatch(
          new RegExp(`keyrack: error: (mech|vault) '[\\w.]+' is not available in this version of keyrack|keyrack: error: no terminal to ask for the GitHub App of GITHUB_TOKEN|keyrack: hint: run it on a terminal: keyrack ${command.join(' ').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`),
        )
    }
  })
})

describe('unlock applies the same inspection', () => {
  test('a wrapped long-lived key stored under an exception is not cached once the exception is removed', () => {
    expect(sandbox.initUnprotected().code).toBe(0)
    sandbox.writeRepoManifest('org: acme\nenv.test:\n  - key: GITHUB_TOKEN\n    allow: long-lived\n    reason: webhook api takes only classic tokens\n')
    expect(sandbox.set('GITHUB_TOKEN', 'test', `token=${GHP}`).code).toBe(0)
    sandbox.writeRepoManifest('org: acme\nenv.test:\n  - GITHUB_TOKEN\n')
    const r = sandbox.run(['unlock', '--for', 'repo', '--env', 'test'])
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('GITHUB_TOKEN: blocked: a value containing a github classic personal access token')
    expect(sandbox.run(['status', '--json']).stdout).not.toContain('acme.test.GITHUB_TOKEN')
  })
})

describe('allow: long-lived with a reason is the reviewed exception', () => {
  const EXCEPTION = `org: acme
env.test:
  - key: AWS_ACCESS_KEY_ID
    allow: long-lived
    reason: legacy partner bucket, no sso (TICKET-123)
`

  test('set stores it, and says why', () => {
    sandbox.writeRepoManifest(EXCEPTION)
    expect(sandbox.initUnprotected().code).toBe(0)
    const r = sandbox.set('AWS_ACCESS_KEY_ID', 'test', AKIA)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('keyrack: warning: storing an aws access key id of an iam user (AKIA…), long-lived as AWS_ACCESS_KEY_ID because the repo manifest allows it (allow: long-lived), reason: "legacy partner bucket, no sso (TICKET-123)"')
  })

  test('get serves it with a warning line naming the reason', () => {
    sandbox.writeRepoManifest(EXCEPTION)
    expect(sandbox.initUnprotected().code).toBe(0)
    expect(sandbox.set('AWS_ACCESS_KEY_ID', 'test', AKIA).code).toBe(0)
    const r = sandbox.run(['get', '--for', 'repo', '--env', 'test', '--output', 'exports'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`export AWS_ACCESS_KEY_ID='${AKIA}'\n`)
    expect(r.stderr).toContain('keyrack: warning: AWS_ACCESS_KEY_ID: serving an aws access key id of an iam user (AKIA…), long-lived because the repo manifest allows it (allow: long-lived), reason: "legacy partner bucket, no sso (TICKET-123)"')
  })

  test('the same holds for a key from the environment, and in json output', () => {
    sandbox.writeRepoManifest(EXCEPTION)
    const r = sandbox.run(['get', '--for', 'repo', '--env', 'test', '--output', 'json'], { env: { AWS_ACCESS_KEY_ID: AKIA } })
    expect(r.code).toBe(0)
    const json = JSON.parse(r.stdout) as { keys: { key: string; state: string; warning?: string }[] }
    expect(json.keys[0]).toMatchObject({ key: 'AWS_ACCESS_KEY_ID', state: 'granted' })
    expect(json.keys[0]!.warning).toContain('TICKET-123')
    expect(r.stderr).toContain('keyrack: warning: AWS_ACCESS_KEY_ID: serving an aws access key id')
  })

  test('allow without a reason is a manifest error naming file:line', () => {
    sandbox.writeRepoManifest(`org: acme
env.test:
  - key: AWS_ACCESS_KEY_ID
    allow: long-lived
`)
    const r = sandbox.run(['get', '--for', 'repo', '--env', 'test'], { env: { AWS_ACCESS_KEY_ID: AKIA } })
    expect(r.code).toBe(7)
    expect(r.stderr).toMatch(/keyrack: error: \.agent\/keyrack\.yml:4:\d+: env\.test: `allow: long-lived` on AWS_ACCESS_KEY_ID needs a `reason:`/)
    expect(r.stderr).toContain('reason:')
    expect(withoutShellStatus(r)).toBe('')
  })

  test('allow takes only long-lived', () => {
    sandbox.writeRepoManifest(`org: acme
env.test:
  - key: AWS_ACCESS_KEY_ID
    allow: everything
    reason: because
`)
    const r = sandbox.run(['get', '--for', 'repo', '--env', 'test'], { env: { AWS_ACCESS_KEY_ID: AKIA } })
    expect(r.code).toBe(7)
    expect(r.stderr).toContain('`allow` may only be "long-lived"')
  })
})
