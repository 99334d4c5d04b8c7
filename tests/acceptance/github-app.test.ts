/**
 * GitHub App keys through the compiled binary, against the loopback GitHub (tests/fakes/github-api.ts)
 * reached only through GITHUB_API_URL: `set` takes the app's JSON on stdin (or asks on a terminal)
 * and proves it by minting a token; `unlock` (nine hours, the default) hands the daemon a token and
 * what it needs to renew it; every `get` after that serves a live `ghs_` token — the fake's tokens
 * live four seconds, so the daemon renews them every two (halfway, as it renews GitHub's hour-long
 * ones five minutes ahead), and the test watches several generations go by on the daemon's own clock;
 * after the unlock ends nothing is served and nothing more is minted. The firewall's answer to a
 * `ghp_` token is a command that works, and `fill` offers the mech. The app's private key never
 * shows up in output, files, or the daemon's argv and environment.
 *
 * The fake runs in this process, so the binary is always run without blocking (box.spawn).
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { daemonPidsUnder, ensureBinary, Sandbox, type RunResult } from '../helpers/harness.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'
import { ENTER, onTerminalAsync } from '../helpers/pty.ts'
import { startFakeGithub, type FakeGithub } from '../fakes/github-api.ts'

setDefaultTimeout(60_000)

let github: FakeGithub
let pemDir: string
let pemFile: string
/** a line from the middle of the private key: if it shows up anywhere, the key leaked */
let pemLine: string

beforeAll(async () => {
  await ensureBinary()
  github = await startFakeGithub({
    installations: [{ id: 777, owner: 'acme', repositories: ['widgets', 'gadgets'], permissions: { contents: 'write', metadata: 'read' } }],
    tokenLifetimeMs: 4_000,
  })
  pemDir = mkdtempSync(join(tmpdir(), 'keyrack-gh-pem-'))
  pemFile = join(pemDir, 'keyrack-test-app.private-key.pem')
  writeFileSync(pemFile, github.app.privateKeyPem, { mode: 0o600 })
  pemLine = github.app.privateKeyPem.split('\n')[5]!
}, 120_000)
afterAll(() => {
  github?.stop()
  rmSync(pemDir, { recursive: true, force: true })
})

const APP_MANIFEST = ['org: acme', 'env.test:', '  - key: GITHUB_TOKEN', '    mech: EPHEMERAL_VIA_GITHUB_APP', ''].join('\n')
const SET = ['set', '--key', 'GITHUB_TOKEN', '--env', 'test', '--vault', 'os.secure', '--mech', 'EPHEMERAL_VIA_GITHUB_APP', '--secret-stdin']
const appJson = (fields: Record<string, unknown> = {}) => JSON.stringify({ appId: github.app.id, owner: 'acme', repo: 'widgets', privateKey: github.app.privateKeyPem, ...fields })

/** the binary, without blocking this process (the fake GitHub answers from it) */
const run = (box: Sandbox, args: string[], input?: string): Promise<RunResult> => box.spawn(args, { env: { GITHUB_API_URL: github.apiUrl }, ...(input === undefined ? {} : { input }) }).done
const tokenRequests = () => github.requests.filter((r) => r.path.endsWith('/access_tokens')).length

function expectNoKeyLeak(box: Sandbox): void {
  expect(box.transcript.join('\n')).not.toContain(pemLine)
  expect(box.filesContaining(pemLine)).toEqual([])
  for (const pid of daemonPidsUnder(box.dir)) {
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(pemLine)
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain('ghs_')
  }
}

describe('a GitHub App key, unlocked for nine hours', () => {
  const box = new Sandbox('kr-github-app')
  afterAll(() => box.cleanup())

  test('set takes the app on stdin and proves it by minting a token; os.direct is refused for its private key', async () => {
    expect((await run(box, ['init', '--no-passphrase'])).code).toBe(0)
    box.writeRepoManifest(APP_MANIFEST)
    const before = tokenRequests()
    const set = await run(box, SET, appJson())
    expect(set.stderr).toContain('keyrack: set acme.test.GITHUB_TOKEN in os.secure via EPHEMERAL_VIA_GITHUB_APP (grade encrypted,ephemeral); round trip verified')
    expect(set.code).toBe(0)
    expect(tokenRequests()).toBe(before + 1)
    const direct = await run(box, ['set', '--key', 'GITHUB_TOKEN', '--env', 'test', '--vault', 'os.direct', '--mech', 'EPHEMERAL_VIA_GITHUB_APP', '--secret-stdin'], appJson())
    expect(direct.code).toBe(2)
    expect(direct.stderr).toContain('mech EPHEMERAL_VIA_GITHUB_APP cannot take its source from vault os.direct')
    expect(direct.stderr).toContain('--vault os.secure')
    const malformed = await run(box, SET, appJson({ repo: undefined }))
    expect(malformed.code).toBe(2)
    expect(malformed.stderr).toContain('the GitHub App source is not valid: say which installation')
  })

  test('every get serves a live ghs_ token while the daemon renews it, for a 9-hour unlock', async () => {
    const unlocked = await run(box, ['unlock', '--for', 'repo', '--env', 'test'])
    expect(unlocked.code).toBe(0)
    const started = Date.now()
    expect(unlocked.stderr).toMatch(/unlocked acme\.test\.GITHUB_TOKEN \(encrypted,ephemeral\) until \S+ \(its key expires at \S+; your daemon renews it until then\)/)
    const until = Date.parse(/until (\S+) \(its key/.exec(unlocked.stderr)![1]!)
    expect(until - started).toBeGreaterThan(9 * 60 * 60 * 1000 - 60_000)

    const seen = new Set<string>()
    const before = tokenRequests()
    let gets = 0
    // about three and a half token lifetimes, on the daemon's own clock
    while (Date.now() - started < 14_000) {
      gets++
      const got = await run(box, ['get', '--key', 'GITHUB_TOKEN', '--env', 'test', '--output', 'value'])
      expect(got.code).toBe(0)
      const token = got.stdout.trim()
      expect(token).toMatch(/^ghs_[A-Za-z0-9]{36}$/)
      expect(github.isLive(token), `served ${token.slice(0, 8)}… after it expired`).toBe(true)
      seen.add(token)
      await Bun.sleep(500)
    }
    // renewed halfway through each four-second token: several generations, every one served live,
    // all minted by the daemon (a get that found the daemon's key dead would mint one itself)
    expect(seen.size).toBeGreaterThanOrEqual(4)
    expect(tokenRequests() - before).toBeLessThan(gets / 2)

    // the grant's expiry is the token's expires_at; status shows the grant lasting the unlock
    const json = await run(box, ['get', '--for', 'repo', '--env', 'test', '--output', 'json'])
    const key = JSON.parse(json.stdout).keys[0]
    expect(Date.parse(key.expiresAt)).toBe(github.tokens.get(key.secret)!.expiresAt)
    expect(Date.parse(key.expiresAt) - Date.now()).toBeLessThanOrEqual(4_000)
    const status = await run(box, ['status', '--json'])
    const listed = JSON.parse(status.stdout).grants[0]
    expect(listed).toMatchObject({ slug: 'acme.test.GITHUB_TOKEN', mech: 'EPHEMERAL_VIA_GITHUB_APP', renewsUntil: until })
    expect(listed.renewals).toBeGreaterThanOrEqual(4)
    expect(listed.remainingMs).toBeGreaterThan(9 * 60 * 60 * 1000 - 120_000)
    expectNoKeyLeak(box)
  })
})

test('the renewals stop when the unlock ends: the daemon lets the grant go and mints nothing more', async () => {
  const box = new Sandbox('kr-github-app-end')
  try {
    expect((await run(box, ['init', '--no-passphrase'])).code).toBe(0)
    box.writeRepoManifest(APP_MANIFEST)
    expect((await run(box, SET, appJson())).code).toBe(0)
    expect((await run(box, ['unlock', '--for', 'repo', '--env', 'test', '--duration', '6s'])).code).toBe(0)
    const started = Date.now()
    await Bun.sleep(4_500)
    // past the first token's life: a renewed one, from the daemon
    const during = await run(box, ['status', '--json'])
    expect(JSON.parse(during.stdout).grants[0].renewals).toBeGreaterThanOrEqual(1)
    await Bun.sleep(Math.max(0, 6_500 - (Date.now() - started)))
    const after = await run(box, ['status', '--json'])
    expect(JSON.parse(after.stdout).grants).toEqual([])
    const minted = tokenRequests()
    await Bun.sleep(2_500)
    expect(tokenRequests()).toBe(minted)
    // nothing dead is ever served: this identity opens without a passphrase, so get mints a fresh token itself
    const got = await run(box, ['get', '--key', 'GITHUB_TOKEN', '--env', 'test', '--output', 'value'])
    expect(github.isLive(got.stdout.trim())).toBe(true)
    expect(tokenRequests()).toBe(minted + 1)
    expectNoKeyLeak(box)
  } finally {
    box.cleanup()
  }
})

describe.skipIf(skipFor('tool', 'github app on a terminal (python3 pty)', missingTool('python3')))('on a terminal', () => {
  const boxes: Sandbox[] = []
  afterAll(() => boxes.forEach((b) => b.cleanup()))
  const sandbox = async (name: string, manifest: string) => {
    const box = new Sandbox(name)
    boxes.push(box)
    expect((await run(box, ['init', '--no-passphrase'])).code).toBe(0)
    box.writeRepoManifest(manifest)
    return box
  }
  /** the three questions of a guided set, answered as the app's owner would */
  const appAnswers = () => [
    { expect: "the GitHub App's id", send: `${github.app.id}${ENTER}` },
    { expect: 'the installation:', send: `acme/widgets${ENTER}` },
    { expect: "the path to the app's private key", send: `${pemFile}${ENTER}` },
  ]

  test('a ghp_ token is refused with a command that replaces it, and that command works as printed', async () => {
    const box = await sandbox('kr-github-firewall', ['org: acme', 'env.test:', '  - GITHUB_TOKEN', ''].join('\n'))
    const pat = `ghp_${'A1b2C3d4E5'.repeat(3)}abcdef`
    const refused = await run(box, ['set', '--key', 'GITHUB_TOKEN', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], pat)
    expect(refused.code).toBe(5)
    expect(refused.stderr).not.toContain(pat)
    const command = /replace it with: keyrack (set [^`\n]+)/.exec(refused.stderr)?.[1]
    expect(command).toBe('set --key GITHUB_TOKEN --env test --vault os.secure --mech EPHEMERAL_VIA_GITHUB_APP')
    const replaced = await onTerminalAsync(box, command!.split(' '), appAnswers(), { env: { GITHUB_API_URL: github.apiUrl } })
    expect(replaced.missing).toBeNull()
    expect(replaced.out).toContain('round trip verified')
    expect(replaced.code).toBe(0)
    const got = await run(box, ['get', '--for', 'repo', '--env', 'test'])
    expect(got.code).toBe(0)
    expect(github.isLive(/^export GITHUB_TOKEN='(ghs_[A-Za-z0-9]{36})'$/m.exec(got.stdout)![1]!)).toBe(true)
    expectNoKeyLeak(box)
  })

  test('fill offers the GitHub App mech for a key the repo wants ephemeral, and guides its set', async () => {
    const box = await sandbox('kr-github-fill', ['org: acme', 'env.test:', '  - GITHUB_TOKEN: ephemeral', ''].join('\n'))
    const answers = [
      { expect: 'how should GITHUB_TOKEN become a usable key?', choose: 'EPHEMERAL_VIA_GITHUB_APP' },
      { expect: 'where should GITHUB_TOKEN be stored?', send: ENTER },
      ...appAnswers(),
    ]
    const filled = await onTerminalAsync(box, ['fill', '--env', 'test'], answers, { env: { GITHUB_API_URL: github.apiUrl } })
    expect(filled.missing).toBeNull()
    // only mechs that give an ephemeral key are offered: no permanent replica
    const offered = filled.out.slice(filled.out.indexOf('how should GITHUB_TOKEN'), filled.out.indexOf('where should GITHUB_TOKEN'))
    expect(offered).toContain('EPHEMERAL_VIA_GITHUB_APP')
    expect(offered).not.toContain('PERMANENT_VIA_REPLICA')
    // and only vaults its private key may live in
    expect(filled.out.slice(filled.out.indexOf('where should GITHUB_TOKEN'))).not.toContain('os.direct')
    expect(filled.out).toContain('keyrack: set acme.test.GITHUB_TOKEN in os.secure via EPHEMERAL_VIA_GITHUB_APP (grade encrypted,ephemeral); round trip verified')
    expect(filled.out).toContain('env test is ready')
    expect(filled.code).toBe(0)
    expectNoKeyLeak(box)
  })
})
