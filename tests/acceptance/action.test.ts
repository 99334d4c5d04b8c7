/**
 * The GitHub Action (action.yml): its check script runs in a simulated Actions environment
 * (GITHUB_ACTIONS=true, CI=true, a temp $GITHUB_ENV, the keys as env vars, cwd = a sandbox repo)
 * against dist/keyrack via KEYRACK_BIN, so nothing is built or installed here.
 * Every credential below is a fake (AWS documentation examples, EXAMPLE-suffixed shapes).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseGithubEnvFile } from '../../src/ci/github-actions.ts'
import { packageVersion, sha256File } from '../../build.ts'
import { startReleaseServer, type ReleaseServer } from '../fakes/release-server.ts'
import { BIN, ROOT, Sandbox, type RunResult } from '../helpers/harness.ts'
import { testRelease } from '../helpers/release.ts'

const RUN_SCRIPT = join(ROOT, 'scripts', 'action-run.sh')
const INSTALL_SCRIPT = join(ROOT, 'scripts', 'action-install.sh')

const STS_KEY = 'ASIAIOSFODNN7EXAMPLE'
const IAM_KEY = 'AKIAIOSFODNN7EXAMPLE'
const XAI_KEY = `xai-${'x'.repeat(73)}EXAMPLE`
const PEM = '-----BEGIN FAKE KEY-----\nZmFrZSBrZXkgbGluZSBvbmU=EXAMPLE\nZmFrZSBrZXkgbGluZSB0d28=EXAMPLE\n-----END FAKE KEY-----'

const MANIFEST = `org: acme
env.all:
  - XAI_API_KEY
env.test:
  - AWS_ACCESS_KEY_ID
  - DEPLOY_PEM
env.prod:
  - PROD_ONLY
`

let sandbox: Sandbox
let githubEnv: string

beforeEach(() => {
  sandbox = new Sandbox('keyrack-action')
  sandbox.writeRepoManifest(MANIFEST)
  githubEnv = join(sandbox.dir, 'github_env')
})
afterEach(() => sandbox.cleanup())

/** the environment a GitHub-hosted runner gives a composite action's step */
function actionsEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_ENV: githubEnv,
    KEYRACK_BIN: BIN,
    KEYRACK_ACTION_ENV: 'test',
    ...extra,
  }
}

function runScript(script: string, env: Record<string, string | undefined>): RunResult {
  const result = spawnSync('bash', [script], { cwd: sandbox.repo, env: sandbox.env(env), encoding: 'utf8', timeout: 30_000 })
  const out = { code: result.status ?? 128, stdout: result.stdout ?? '', stderr: result.stderr ?? '' }
  sandbox.transcript.push(out.stdout, out.stderr)
  return out
}

const allKeys = { XAI_API_KEY: XAI_KEY, AWS_ACCESS_KEY_ID: STS_KEY, DEPLOY_PEM: PEM }

describe('action.yml', () => {
  const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { required?: boolean; default?: string }>
    runs: { using: string; steps: { id?: string; shell?: string; run: string; env?: Record<string, string> }[] }
  }

  test("is a composite action with inputs env (required) and version (default: empty, the action's own tag)", () => {
    expect(action.runs.using).toBe('composite')
    expect(action.inputs.env?.required).toBe(true)
    expect(action.inputs.version?.default).toBe('')
  })

  test('its steps run the scripts from the action checkout, and inputs arrive as env vars, never pasted into a script', () => {
    const runs = action.runs.steps.map((s) => s.run)
    expect(runs).toEqual([
      '"${{ github.action_path }}/scripts/action-install.sh"',
      '"${{ github.action_path }}/scripts/action-run.sh"',
    ])
    for (const step of action.runs.steps) {
      expect(step.shell).toBe('bash')
      expect(step.run).not.toContain('inputs.')
    }
    expect(action.runs.steps[0]!.env).toEqual({
      KEYRACK_ACTION_VERSION: '${{ inputs.version }}',
      KEYRACK_ACTION_REF: '${{ github.action_ref }}',
      KEYRACK_ACTION_REPOSITORY: '${{ github.action_repository }}',
    })
    expect(action.runs.steps[1]!.env?.KEYRACK_ACTION_ENV).toBe('${{ inputs.env }}')
    expect(action.runs.steps[1]!.env?.KEYRACK_BIN).toBe(`\${{ steps.${action.runs.steps[0]!.id}.outputs.bin }}`)
  })

  test('the scripts it names exist and are executable', () => {
    for (const file of [RUN_SCRIPT, INSTALL_SCRIPT, join(ROOT, 'install.sh')]) {
      expect(existsSync(file)).toBe(true)
      expect(spawnSync('test', ['-x', file]).status).toBe(0)
    }
  })
})

describe('the action check script (simulated GitHub Actions)', () => {
  test('all keys present: exit 0, masks first on stdout, keys in $GITHUB_ENV', () => {
    const r = runScript(RUN_SCRIPT, actionsEnv(allKeys))
    expect(r.stderr).toContain('$GITHUB_ENV: 3 keys added')
    expect(r.code).toBe(0)
    // stdout carries only workflow commands: one mask per secret (per line for the pem)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines.every((l) => l.startsWith('::add-mask::'))).toBe(true)
    expect(lines).toContain(`::add-mask::${STS_KEY}`)
    expect(lines).toContain(`::add-mask::${XAI_KEY}`)
    for (const pemLine of PEM.split('\n')) expect(lines).toContain(`::add-mask::${pemLine}`)
    // the env file holds exactly the allowlisted keys, values intact (the pem across lines)
    const assignments = parseGithubEnvFile(readFileSync(githubEnv, 'utf8'))
    expect(Object.fromEntries(assignments.map((a) => [a.key, a.value]))).toEqual(allKeys)
    expect(assignments.map((a) => a.key)).toEqual(['AWS_ACCESS_KEY_ID', 'DEPLOY_PEM', 'XAI_API_KEY'])
    // no secret on stderr
    for (const secret of Object.values(allKeys)) expect(r.stderr).not.toContain(secret.split('\n')[1] ?? secret)
  })

  test('idempotent: a second run leaves $GITHUB_ENV byte for byte the same', () => {
    expect(runScript(RUN_SCRIPT, actionsEnv(allKeys)).code).toBe(0)
    const first = readFileSync(githubEnv, 'utf8')
    const again = runScript(RUN_SCRIPT, actionsEnv(allKeys))
    expect(again.code).toBe(0)
    expect(again.stderr).toContain('0 keys added, 3 already there')
    expect(readFileSync(githubEnv, 'utf8')).toBe(first)
  })

  test('keeps what earlier steps wrote to $GITHUB_ENV, and appends only what changed', () => {
    writeFileSync(githubEnv, 'EARLIER=step\n')
    expect(runScript(RUN_SCRIPT, actionsEnv(allKeys)).code).toBe(0)
    const rotated = runScript(RUN_SCRIPT, actionsEnv({ ...allKeys, AWS_ACCESS_KEY_ID: 'ASIAQQQQQQQQQEXAMPLE' }))
    expect(rotated.code).toBe(0)
    expect(rotated.stderr).toContain('1 key added (AWS_ACCESS_KEY_ID), 2 already there')
    const assignments = parseGithubEnvFile(readFileSync(githubEnv, 'utf8'))
    expect(assignments[0]).toEqual({ key: 'EARLIER', value: 'step' })
    expect(assignments.filter((a) => a.key === 'AWS_ACCESS_KEY_ID').at(-1)?.value).toBe('ASIAQQQQQQQQQEXAMPLE')
  })

  test('a missing key: non-zero, a per-key report with Actions guidance, and nothing written or masked', () => {
    const r = runScript(RUN_SCRIPT, actionsEnv({ XAI_API_KEY: XAI_KEY, AWS_ACCESS_KEY_ID: STS_KEY }))
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/DEPLOY_PEM\s+absent/)
    expect(r.stderr).toContain("add the secret DEPLOY_PEM to the repository's Actions secrets")
    expect(r.stderr).toContain('DEPLOY_PEM: ${{ secrets.DEPLOY_PEM }}')
    expect(r.stdout).not.toContain('::add-mask::')
    expect(r.stdout).toContain('::error title=keyrack::keys for env test not granted (exit 4)')
    expect(existsSync(githubEnv)).toBe(false)
  })

  test('a long-lived AKIA key: exit 5 (blocked), the replacement named, nothing written', () => {
    const r = runScript(RUN_SCRIPT, actionsEnv({ ...allKeys, AWS_ACCESS_KEY_ID: IAM_KEY }))
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/AWS_ACCESS_KEY_ID\s+blocked/)
    expect(r.stderr).toContain('mech: EPHEMERAL_VIA_GITHUB_OIDC')
    expect(r.stderr).toContain('keyrack set --key AWS_PROFILE --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO')
    expect(r.stdout).toContain('(exit 5): a long-lived credential was refused by the firewall')
    expect(existsSync(githubEnv)).toBe(false)
    expect(sandbox.transcript.join('\n')).not.toContain(IAM_KEY)
  })

  test('no `env` input: exit 2 with an annotation naming the input', () => {
    const r = runScript(RUN_SCRIPT, actionsEnv({ ...allKeys, KEYRACK_ACTION_ENV: undefined }))
    expect(r.code).toBe(2)
    expect(r.stdout).toContain('::error title=keyrack::the action needs its `env` input')
  })

  test('without $GITHUB_ENV (not a workflow step): exit 2 with a hint, before any key is looked up', () => {
    const r = runScript(RUN_SCRIPT, actionsEnv({ ...allKeys, GITHUB_ENV: undefined }))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('keyrack: error: `--output github-env` needs $GITHUB_ENV')
    expect(r.stderr).toContain('keyrack: hint: ')
    expect(r.stdout).not.toContain('::add-mask::')
  })

  test('working-directory: the repo can live below the workspace', () => {
    const r = spawnSync('bash', [RUN_SCRIPT], {
      cwd: sandbox.dir,
      env: sandbox.env(actionsEnv({ ...allKeys, KEYRACK_ACTION_WORKDIR: 'repo' })),
      encoding: 'utf8',
    })
    expect(r.status).toBe(0)
    expect(parseGithubEnvFile(readFileSync(githubEnv, 'utf8')).length).toBe(3)
  })

  test('no daemon and no keyrack home: nothing is created under HOME', () => {
    expect(runScript(RUN_SCRIPT, actionsEnv(allKeys)).code).toBe(0)
    expect(sandbox.files(sandbox.home)).toEqual([])
    expect(sandbox.files(sandbox.runtimeDir)).toEqual([])
  })
})

describe('the action install script (simulated runner, loopback release server)', () => {
  const version = packageVersion()
  const tag = `v${version}`
  let release: string
  let tampered: string
  let server: ReleaseServer
  /** the runner's tool cache outlives each test's sandbox, as it outlives jobs on a runner */
  let toolCache: string
  beforeAll(async () => {
    release = await testRelease()
    toolCache = mkdtempSync(join(tmpdir(), 'keyrack-toolcache-'))
    tampered = join(toolCache, 'tampered-release')
    cpSync(release, tampered, { recursive: true })
    writeFileSync(join(tampered, 'keyrack-linux-x64'), 'tampered', { flag: 'a' })
    server = startReleaseServer({ releases: { [tag]: release, 'v9.9.9': tampered }, latest: tag })
  }, 600_000)
  afterAll(() => {
    server?.stop()
    rmSync(toolCache, { recursive: true, force: true })
  })

  /** what a runner gives the install step: its own temp and tool cache, the step's files, the action's ref */
  function runner(name: string, extra: Record<string, string | undefined> = {}) {
    const dir = join(sandbox.dir, name)
    mkdirSync(join(dir, 'temp'), { recursive: true })
    return {
      dir,
      toolCache,
      env: {
        RUNNER_TEMP: join(dir, 'temp'),
        RUNNER_TOOL_CACHE: toolCache,
        RUNNER_ARCH: 'X64',
        GITHUB_PATH: join(dir, 'github_path'),
        GITHUB_OUTPUT: join(dir, 'github_output'),
        GITHUB_SERVER_URL: server.base,
        GITHUB_ACTION_PATH: ROOT,
        KEYRACK_ACTION_REPOSITORY: 'ehmpathy/keyrack',
        KEYRACK_ACTION_REF: tag,
        KEYRACK_ACTION_VERSION: '',
        ...extra,
      } as Record<string, string | undefined>,
    }
  }
  async function install(env: Record<string, string | undefined>): Promise<RunResult> {
    // async: the release server answers from this process
    const proc = Bun.spawn(['bash', INSTALL_SCRIPT], { cwd: sandbox.repo, env: sandbox.env(env), stdout: 'pipe', stderr: 'pipe' })
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    sandbox.transcript.push(stdout, stderr)
    return { code, stdout, stderr }
  }
  const output = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '')
  const assetDownloads = () => server.requests.filter((r) => r.startsWith('/ehmpathy/keyrack/releases/') && /\/keyrack-[a-z0-9-]+$/.test(r))

  test("by default installs the release of the action's own tag: verified, tool-cached, on PATH, and the check step runs it", async () => {
    const r1 = runner('run-1')
    const before = assetDownloads().length
    const r = await install(r1.env)
    if (r.code !== 0) throw new Error(`action-install.sh exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
    expect(r.stdout).toContain('verified SHA-256 of keyrack-linux-x64')
    expect(assetDownloads().slice(before)).toEqual([`/ehmpathy/keyrack/releases/download/${tag}/keyrack-linux-x64`])
    const cached = join(r1.toolCache, 'keyrack', version, 'x64')
    expect(existsSync(`${cached}.complete`)).toBe(true)
    expect(sha256File(join(cached, 'keyrack'))).toBe(sha256File(join(release, 'keyrack-linux-x64')))
    expect(output(r1.env.GITHUB_OUTPUT!)).toBe(`bin=${cached}/keyrack\n`)
    expect(output(r1.env.GITHUB_PATH!)).toBe(`${cached}\n`)
    expect(r.stdout).toContain(`keyrack: ${version} (commit testrelease0, linux-x64)`)
    // the check step, with KEYRACK_BIN from the install step's output, as action.yml wires them
    const check = runScript(RUN_SCRIPT, actionsEnv({ ...allKeys, KEYRACK_BIN: `${cached}/keyrack` }))
    expect(check.code).toBe(0)
    expect(parseGithubEnvFile(readFileSync(githubEnv, 'utf8')).map((a) => a.key)).toEqual(['AWS_ACCESS_KEY_ID', 'DEPLOY_PEM', 'XAI_API_KEY'])
  }, 120_000)

  test('a later job on the same runner takes it from the tool cache, downloading nothing', async () => {
    const before = server.requests.length
    const r2 = runner('run-2')
    const r = await install(r2.env)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`keyrack: v${version} from the runner's tool cache`)
    expect(server.requests.length).toBe(before)
    expect(output(r2.env.GITHUB_OUTPUT!)).toBe(`bin=${join(r2.toolCache, 'keyrack', version, 'x64')}/keyrack\n`)
  }, 60_000)

  test('a cached binary that changed since it was verified is not used: the release is downloaded and verified again', async () => {
    const cached = join(toolCache, 'keyrack', version, 'x64', 'keyrack')
    writeFileSync(cached, '#!/bin/sh\necho evil\n')
    const before = assetDownloads().length
    const r = await install(runner('run-3').env)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('verified SHA-256 of keyrack-linux-x64')
    expect(assetDownloads().length).toBe(before + 1)
    expect(sha256File(cached)).toBe(sha256File(join(release, 'keyrack-linux-x64')))
  }, 60_000)

  test('a tampered release fails the step: nothing installed, nothing cached, no output', async () => {
    const r4 = runner('run-4', { KEYRACK_ACTION_VERSION: 'v9.9.9' })
    const r = await install(r4.env)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('SHA-256 mismatch for keyrack-linux-x64')
    expect(r.stdout).toContain('::error title=keyrack::could not install keyrack v9.9.9')
    expect(existsSync(join(r4.toolCache, 'keyrack', '9.9.9'))).toBe(false)
    expect(output(r4.env.GITHUB_OUTPUT!)).toBe('')
  }, 60_000)

  test('`version: latest` installs the latest release and caches it under its version', async () => {
    const r5 = runner('run-5', { KEYRACK_ACTION_VERSION: 'latest', RUNNER_TOOL_CACHE: join(sandbox.dir, 'toolcache-2') })
    const r = await install(r5.env)
    expect(r.code).toBe(0)
    expect(server.requests).toContain('/ehmpathy/keyrack/releases/latest/download/keyrack-linux-x64')
    expect(existsSync(join(sandbox.dir, 'toolcache-2', 'keyrack', version, 'x64.complete'))).toBe(true)
  }, 60_000)

  test('a ref that is not a release tag (a branch) builds the action checkout, as `version: source` does', async () => {
    // a throwaway checkout (sharing node_modules), so the build never rewrites this repo's dist/
    const checkout = join(sandbox.dir, 'action-checkout')
    mkdirSync(join(checkout, 'scripts'), { recursive: true })
    for (const name of ['src', 'build.ts', 'install.sh', 'package.json', 'tsconfig.json', 'bunfig.toml', 'scripts/action-install.sh'])
      cpSync(join(ROOT, name), join(checkout, name), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'))
    const r6 = runner('run-6', { KEYRACK_ACTION_REF: 'main', GITHUB_ACTION_PATH: checkout })
    const before = server.requests.length
    const r = await install(r6.env)
    if (r.code !== 0) throw new Error(`action-install.sh exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
    expect(r.stdout).toContain("the action runs at ref 'main', which is not a release tag: building keyrack from the action's checkout")
    expect(server.requests.length).toBe(before)
    expect(output(r6.env.GITHUB_OUTPUT!)).toBe(`bin=${join(r6.dir, 'temp', 'keyrack', 'bin', 'keyrack')}\n`)
  }, 120_000)

  test('a version that is neither a release, latest nor source is refused before anything is installed', async () => {
    const r = await install(runner('run-7', { KEYRACK_ACTION_VERSION: 'nightly' }).env)
    expect(r.code).toBe(2)
    expect(r.stdout).toContain("::error title=keyrack::version 'nightly' is not a release (e.g. v0.2.0), `latest` or `source`")
    expect(existsSync(join(sandbox.dir, 'run-7', 'temp', 'keyrack'))).toBe(false)
  })

  test('an input cannot inject a workflow command', async () => {
    const r = await install(runner('run-8', { KEYRACK_ACTION_VERSION: 'x\n::add-mask::boom' }).env)
    expect(r.code).toBe(2)
    expect(r.stdout.split('\n').filter((l) => l.startsWith('::'))).toHaveLength(1)
  })
})
