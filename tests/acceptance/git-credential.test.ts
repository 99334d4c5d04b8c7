/**
 * `keyrack git-credential` with the real `git`, against a loopback GitHub whose git endpoint is the
 * real `git http-backend` behind basic auth that takes only a live installation token
 * (tests/fakes/github-api.ts). git is configured the way the README says; no token is in the
 * environment or in any file: each clone, fetch and push asks the helper, which gets the repo's
 * GITHUB_TOKEN from the daemon (a GitHub App token it renews: the fake's tokens live four seconds,
 * so a push a few seconds after the clone already needs a renewed one). Hosts the helper does not
 * serve get nothing, and a token narrowed to `contents: read` can clone but not push.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, daemonPidsUnder, ensureBinary, Sandbox, type RunResult } from '../helpers/harness.ts'
import { createBareRepo, startFakeGithub, type FakeGithub } from '../fakes/github-api.ts'

setDefaultTimeout(60_000)

const MANIFEST = (extra: string[] = []) => ['org: acme', 'env.test:', '  - key: GITHUB_TOKEN', '    mech: EPHEMERAL_VIA_GITHUB_APP', ...extra.map((l) => `    ${l}`), ''].join('\n')

let github: FakeGithub
let gitRoot: string
const boxes: Sandbox[] = []

beforeAll(async () => {
  await ensureBinary()
  const holder = new Sandbox('kr-git-remote')
  boxes.push(holder)
  gitRoot = join(holder.dir, 'git-root')
  mkdirSync(gitRoot, { recursive: true })
  github = await startFakeGithub({
    installations: [{ id: 777, owner: 'acme', repositories: ['widgets'], permissions: { contents: 'write', metadata: 'read' } }],
    tokenLifetimeMs: 4_000,
    gitRoot,
  })
  await createBareRepo(gitRoot, 'acme', 'widgets', { '.agent/keyrack.yml': MANIFEST(), 'README.md': '# widgets\n' })
}, 120_000)
afterAll(() => {
  github?.stop()
  for (const box of boxes) box.cleanup()
})

/** a user's machine: keyrack on PATH, the app key set and unlocked, git configured as the README says */
async function machine(name: string, manifest = MANIFEST()): Promise<{ box: Sandbox; git: (args: string[], cwd?: string) => Promise<RunResult>; keyrack: (args: string[], input?: string) => Promise<RunResult> }> {
  const box = new Sandbox(name)
  boxes.push(box)
  const bin = join(box.dir, 'bin')
  mkdirSync(bin)
  symlinkSync(BIN, join(bin, 'keyrack'))
  const env = { PATH: `${bin}:${process.env.PATH}`, GITHUB_API_URL: github.apiUrl, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' }
  const spawn = (cmd: string[], cwd: string, input?: string) => box.spawn([], { cmd, cwd, env, ...(input === undefined ? {} : { input }) }).done
  const keyrack = (args: string[], input?: string) => spawn(['keyrack', ...args], box.repo, input)
  const git = (args: string[], cwd = box.repo) => spawn(['git', ...args], cwd)
  box.writeRepoManifest(manifest)
  expect((await keyrack(['init', '--no-passphrase'])).code).toBe(0)
  const app = JSON.stringify({ appId: github.app.id, owner: 'acme', repo: 'widgets', privateKey: github.app.privateKeyPem })
  expect((await keyrack(['set', '--key', 'GITHUB_TOKEN', '--env', 'test', '--vault', 'os.secure', '--mech', 'EPHEMERAL_VIA_GITHUB_APP', '--secret-stdin'], app)).code).toBe(0)
  expect((await keyrack(['unlock', '--for', 'repo', '--env', 'test'])).code).toBe(0)
  // the README's setup, for this GitHub's host (github.com in real life)
  for (const value of ['', '!keyrack git-credential']) expect((await git(['config', '--global', '--add', `credential.${github.url}.helper`, value])).code).toBe(0)
  for (const [k, v] of [['user.name', 'Robot'], ['user.email', 'robot@example.invalid'], ['init.defaultBranch', 'main']]) await git(['config', '--global', k!, v!])
  return { box, git, keyrack }
}

describe('git with keyrack git-credential', () => {
  test('clones, and pushes seconds later with a renewed token; no token in the environment, the config or on disk', async () => {
    const { box, git, keyrack } = await machine('kr-git-push')
    const clone = join(box.repo, 'widgets')
    const cloned = await git(['clone', '-q', `${github.url}/acme/widgets.git`, clone])
    expect(cloned.stderr).toBe('')
    expect(cloned.code).toBe(0)
    expect(readFileSync(join(clone, 'README.md'), 'utf8')).toBe('# widgets\n')
    // past the first token's life: the helper serves what the daemon renewed
    await Bun.sleep(4_500)
    await Bun.write(join(clone, 'CHANGELOG.md'), '- pushed through keyrack\n')
    expect((await git(['add', 'CHANGELOG.md'], clone)).code).toBe(0)
    expect((await git(['commit', '-q', '-m', 'changelog'], clone)).code).toBe(0)
    const pushed = await git(['push', '-q', 'origin', 'main'], clone)
    expect(pushed.stderr).toBe('')
    expect(pushed.code).toBe(0)
    const log = Bun.spawnSync(['git', '--git-dir', join(gitRoot, 'acme', 'widgets.git'), 'log', '--format=%s', '-1'])
    expect(log.stdout.toString().trim()).toBe('changelog')
    // every authenticated git request carried a token the fake issued, and more than one token was used
    const basic = github.requests.filter((r) => r.credential === 'basic' && r.path.startsWith('/acme/widgets.git/'))
    expect(basic.length).toBeGreaterThanOrEqual(2)
    expect(basic.every((r) => r.status === 200)).toBe(true)
    // no token anywhere but in memory: not in git's config, not in any file, not in the daemon's environment
    for (const token of github.tokens.keys()) expect(box.filesContaining(token)).toEqual([])
    for (const pid of daemonPidsUnder(box.dir)) expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain('ghs_')
    // every token git got is in the audit log as the helper's, with git in the caller's chain
    const audit = JSON.parse((await keyrack(['audit', '--json', '--key', 'GITHUB_TOKEN'])).stdout) as { command: string; outcome: string; caller: { chain: { name?: string }[] } }[]
    const served = audit.filter((e) => e.command === 'git-credential')
    expect(served.length).toBeGreaterThanOrEqual(2)
    for (const e of served) expect(e.caller.chain.map((l) => l.name)).toContain('git')
  })

  test('another host gets nothing from the helper: the token is never offered to it', async () => {
    const { git } = await machine('kr-git-other-host')
    const before = github.requests.length
    // the same server under another name: not github.com, not GITHUB_API_URL's host
    const otherHost = github.url.replace('127.0.0.1', 'localhost')
    const helper = await git(['-c', `credential.${otherHost}.helper=`, '-c', `credential.${otherHost}.helper=!keyrack git-credential`, 'clone', '-q', `${otherHost}/acme/widgets.git`, 'elsewhere'])
    expect(helper.code).not.toBe(0)
    expect(helper.stderr).toContain('could not read Username')
    expect(github.requests.slice(before).filter((r) => r.credential !== 'none')).toEqual([])
  })

  test('a token narrowed by the repo manifest to contents: read clones but cannot push', async () => {
    const { box, git } = await machine('kr-git-read-only', MANIFEST(['permission-contents: read']))
    const clone = join(box.repo, 'widgets')
    expect((await git(['clone', '-q', `${github.url}/acme/widgets.git`, clone])).code).toBe(0)
    await Bun.write(join(clone, 'NOTES.md'), 'read only\n')
    await git(['add', 'NOTES.md'], clone)
    await git(['commit', '-q', '-m', 'notes'], clone)
    const pushed = await git(['push', '-q', 'origin', 'main'], clone)
    expect(pushed.code).not.toBe(0)
    expect(pushed.stderr).toContain('403')
  })
})
