/**
 * The GitHub Action (action.yml): its check script runs in a simulated Actions environment
 * (GITHUB_ACTIONS=true, CI=true, a temp $GITHUB_ENV, the keys as env vars, cwd = a sandbox repo)
 * against dist/keyrack via KEYRACK_BIN, so nothing is built or installed here.
 * Every credential below is a fake (AWS documentation examples, EXAMPLE-suffixed shapes).
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseGithubEnvFile } from '../../src/ci/github-actions.ts'
import { BIN, ROOT, Sandbox, type RunResult } from '../helpers/harness.ts'

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

  test('is a composite action with inputs env (required) and version (default source)', () => {
    expect(action.runs.using).toBe('composite')
    expect(action.inputs.env?.required).toBe(true)
    expect(action.inputs.version?.default).toBe('source')
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
    expect(action.runs.steps[0]!.env?.KEYRACK_ACTION_VERSION).toBe('${{ inputs.version }}')
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
    expect(r.stderr).toContain('role-to-assume')
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

describe('the action install script', () => {
  test('a version other than source is refused before anything is installed', () => {
    const r = runScript(INSTALL_SCRIPT, { KEYRACK_ACTION_VERSION: 'v9.9.9', RUNNER_TEMP: join(sandbox.dir, 'runner') })
    expect(r.code).toBe(2)
    expect(r.stdout).toContain("::error title=keyrack::version 'v9.9.9' cannot be installed yet: only `version: source` works today")
    expect(existsSync(join(sandbox.dir, 'runner'))).toBe(false)
  })

  test('an input cannot inject a workflow command', () => {
    const r = runScript(INSTALL_SCRIPT, { KEYRACK_ACTION_VERSION: 'x\n::add-mask::boom', RUNNER_TEMP: join(sandbox.dir, 'runner') })
    expect(r.code).toBe(2)
    expect(r.stdout.split('\n').filter((l) => l.startsWith('::'))).toHaveLength(1)
  })
})
