/**
 * CI mode (SPEC §11): with CI=true or --ci there is no daemon and no host manifest; keys come
 * only from the environment, each is checked against the allowlist and the firewall, and the
 * report fits CI. Runs the binary in a sandbox whose HOME starts empty and KEYRACK_HOME unset.
 * Every credential is a fake.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Sandbox, withoutShellStatus } from '../helpers/harness.ts'

const ASIA = 'ASIAIOSFODNN7EXAMPLE'
const AKIA = 'AKIAIOSFODNN7EXAMPLE'
const XAI = `xai-${'x'.repeat(73)}EXAMPLE`
const GHP = `ghp_${'x'.repeat(29)}EXAMPLE`
const PROD_SECRET = 'prod-only-secret-EXAMPLE'

const MANIFEST = `org: acme
env.all:
  - XAI_API_KEY
env.test:
  - AWS_ACCESS_KEY_ID
env.prod:
  - PROD_DB_PASSWORD
`

let sandbox: Sandbox

beforeEach(() => {
  sandbox = new Sandbox('keyrack-ci')
  sandbox.writeRepoManifest(MANIFEST)
})
afterEach(() => {
  // a mask command is the one place a secret may reach stderr: the runner consumes it, never shows it
  const stderr = sandbox.transcript.filter((_, i) => i % 2 === 1).join('\n').split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')
  for (const secret of [ASIA, AKIA, XAI, GHP, PROD_SECRET]) expect(stderr).not.toContain(secret)
  sandbox.cleanup()
})

const getTest = ['get', '--for', 'repo', '--env', 'test', '--output', 'exports']

describe('CI mode: keys only from the environment', () => {
  test('all present: granted, exports on stdout, nothing created under HOME and no daemon', () => {
    const r = sandbox.run(getTest, { env: { CI: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA } })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`export AWS_ACCESS_KEY_ID='${ASIA}'\nexport XAI_API_KEY='${XAI}'\n`)
    // no KEYRACK_HOME, no host manifest, no identity, no socket: CI mode touches none of them
    expect(sandbox.files(sandbox.home)).toEqual([])
    expect(readdirSync(sandbox.runtimeDir)).toEqual([])
  })

  test('--ci does the same without CI=true', () => {
    const r = sandbox.run([...getTest, '--ci'], { env: { XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA } })
    expect(r.code).toBe(0)
    expect(sandbox.files(sandbox.home)).toEqual([])
  })

  test('absent: exit 4, a per-key report, and GitHub Actions guidance on Actions', () => {
    const r = sandbox.run(getTest, { env: { CI: 'true', GITHUB_ACTIONS: 'true', AWS_ACCESS_KEY_ID: ASIA } })
    expect(r.code).toBe(4)
    expect(withoutShellStatus(r)).toBe('')
    expect(r.stderr).toContain('keyrack: error: 1 of 2 keys not granted: XAI_API_KEY (absent)')
    expect(r.stderr).toMatch(/keyrack: {3}AWS_ACCESS_KEY_ID\s+granted/)
    expect(r.stderr).toMatch(/keyrack: {3}XAI_API_KEY\s+absent\s+not in the environment/)
    expect(r.stderr).toContain(
      "keyrack: hint: add the secret XAI_API_KEY to the repository's Actions secrets (settings → secrets and variables → actions) and pass it in the step's `env:`, e.g. `XAI_API_KEY: ${{ secrets.XAI_API_KEY }}`",
    )
    // never the host-side advice: there is nothing to unlock or set on a runner
    expect(r.stderr).not.toContain('keyrack unlock')
    expect(r.stderr).not.toContain('keyrack set')
  })

  test('absent on another CI: generic guidance that still shows the Actions form', () => {
    const r = sandbox.run(getTest, { env: { CI: 'true', AWS_ACCESS_KEY_ID: ASIA } })
    expect(r.code).toBe(4)
    expect(r.stderr).toContain("keyrack: hint: add XAI_API_KEY to your ci system's secrets and pass it into this step's environment")
    expect(r.stderr).toContain('`XAI_API_KEY: ${{ secrets.XAI_API_KEY }}`')
  })

  test('blocked: a long-lived AKIA key in the environment, exit 5, with CI and replacement advice', () => {
    const r = sandbox.run(getTest, { env: { CI: 'true', GITHUB_ACTIONS: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: AKIA } })
    expect(r.code).toBe(5)
    expect(withoutShellStatus(r)).toBe('')
    expect(r.stderr).toMatch(/AWS_ACCESS_KEY_ID\s+blocked\s+an aws access key id of an iam user \(AKIA…\), long-lived, from the environment/)
    expect(r.stderr).toContain('keyrack: hint: in github actions, assume an iam role with oidc instead of keeping an access key in secrets: in .agent/keyrack.yml list `- key: AWS_ACCESS_KEY_ID` with `mech: EPHEMERAL_VIA_GITHUB_OIDC`')
    expect(r.stderr).toContain('keyrack: hint: replace it with: keyrack set --key AWS_PROFILE --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO')
    // no mask was printed for a refused run: nothing was granted
    expect(r.stdout).not.toContain('::add-mask::')
  })

  test('blocked and absent together: blocked wins the exit code, every key is reported', () => {
    const r = sandbox.run(getTest, { env: { CI: 'true', AWS_ACCESS_KEY_ID: AKIA } })
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('2 of 2 keys not granted: AWS_ACCESS_KEY_ID (blocked), XAI_API_KEY (absent)')
  })

  test('a long-lived GitHub PAT: the Actions alternative is named', () => {
    sandbox.writeRepoManifest('org: acme\nenv.test:\n  - GH_TOKEN\n')
    const r = sandbox.run(getTest, { env: { CI: 'true', GH_TOKEN: GHP } })
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('`secrets.GITHUB_TOKEN`')
    expect(r.stderr).toContain('actions/create-github-app-token')
  })

  test('the host keyrack is never consulted: a key set on this machine but not in the env is absent', () => {
    expect(sandbox.initUnprotected().code).toBe(0)
    expect(sandbox.set('XAI_API_KEY', 'test', XAI).code).toBe(0)
    const before = sandbox.files(sandbox.keyrackHome).map((f) => [f, statSync(f).mtimeMs] as const)
    const r = sandbox.run(getTest, { env: { CI: 'true', AWS_ACCESS_KEY_ID: ASIA } })
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/XAI_API_KEY\s+absent\s+not in the environment/)
    expect(sandbox.files(sandbox.keyrackHome).map((f) => [f, statSync(f).mtimeMs] as const)).toEqual(before)
    expect(readdirSync(sandbox.runtimeDir)).toEqual([])
  })

  test('a key the repo lists for another env but present here: a warning, still granted', () => {
    const r = sandbox.run(getTest, { env: { CI: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA, PROD_DB_PASSWORD: PROD_SECRET } })
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(
      'keyrack: warning: PROD_DB_PASSWORD is set in the environment but not allowlisted for env test (`keyrack exec --strict-env` removes it from the child)\n',
    )
    expect(r.stdout).not.toContain('PROD_DB_PASSWORD')
  })

  test('GitHub Actions: warnings are also annotations on the run page', () => {
    const r = sandbox.run(getTest, { env: { CI: 'true', GITHUB_ACTIONS: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA, PROD_DB_PASSWORD: PROD_SECRET } })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('::warning title=keyrack::PROD_DB_PASSWORD is set in the environment but not allowlisted for env test')
  })

  test('GitHub Actions: exports carry the masks first, as shell code that echoes them', () => {
    const r = sandbox.run(getTest, { env: { CI: 'true', GITHUB_ACTIONS: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA } })
    expect(r.code).toBe(0)
    // stdout stays pure shell code: `eval "$(keyrack get …)"` prints the masks to the step's stdout
    expect(r.stdout).toBe(
      `printf '%s\\n' '::add-mask::${ASIA}'\nprintf '%s\\n' '::add-mask::${XAI}'\nexport AWS_ACCESS_KEY_ID='${ASIA}'\nexport XAI_API_KEY='${XAI}'\n`,
    )
  })

  test('GitHub Actions: `keyrack source` emits exactly what `get --output exports` does, masks first', () => {
    const env = { CI: 'true', GITHUB_ACTIONS: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA }
    const viaGet = sandbox.run(getTest, { env })
    const viaSource = sandbox.run(['source', '--env', 'test'], { env })
    expect(viaSource.code).toBe(0)
    expect(viaSource.stdout).toBe(`printf '%s\\n' '::add-mask::${ASIA}'\nprintf '%s\\n' '::add-mask::${XAI}'\nexport AWS_ACCESS_KEY_ID='${ASIA}'\nexport XAI_API_KEY='${XAI}'\n`)
    expect(viaSource.stdout).toBe(viaGet.stdout)
    expect(viaSource.stderr).toBe(viaGet.stderr)
    // and in a step: eval prints the masks for the runner, then the keys are exported
    const step = sandbox.sh(`unset XAI_API_KEY AWS_ACCESS_KEY_ID; eval "$(XAI_API_KEY='${XAI}' AWS_ACCESS_KEY_ID='${ASIA}' "$KEYRACK" source --env test)"; echo "ok:\${XAI_API_KEY:+set}"`, { env })
    expect(step.stdout).toBe(`::add-mask::${ASIA}\n::add-mask::${XAI}\nok:set\n`)
  })

  test('GitHub Actions: --output value sends the mask to stderr, where the runner reads it too', () => {
    const r = sandbox.run(['get', '--key', 'XAI_API_KEY', '--env', 'test', '--output', 'value'], { env: { CI: 'true', GITHUB_ACTIONS: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA } })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`${XAI}\n`)
    expect(r.stderr).toBe(`::add-mask::${XAI}\n`)
  })

  test('GitHub Actions: eval "$(keyrack get …)" in a step exports the keys and prints no secret', () => {
    const env = { CI: 'true', GITHUB_ACTIONS: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA }
    const r = sandbox.sh(`unset XAI_API_KEY AWS_ACCESS_KEY_ID; eval "$(XAI_API_KEY='${XAI}' AWS_ACCESS_KEY_ID='${ASIA}' "$KEYRACK" ${getTest.join(' ')})"; echo "ok:\${XAI_API_KEY:+set}"`, { env })
    // the step's stdout shows the mask commands (which the runner consumes), then the script's own output
    expect(r.stdout).toBe(`::add-mask::${ASIA}\n::add-mask::${XAI}\nok:set\n`)
    expect(r.stderr).toBe('')
  })
})

describe('CI mode: exec', () => {
  const printEnv = ['sh', '-c', 'echo "AWS=${AWS_ACCESS_KEY_ID-unset} XAI=${XAI_API_KEY:+set} PROD=${PROD_DB_PASSWORD:+set}"']
  const execTest = (extra: string[] = []) => ['exec', '--for', 'repo', '--env', 'test', ...extra, '--', ...printEnv]
  const env = { CI: 'true', XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA, PROD_DB_PASSWORD: PROD_SECRET }

  test('without --strict-env the other env key stays in the child, with a warning', () => {
    const r = sandbox.run(execTest(), { env })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`AWS=${ASIA} XAI=set PROD=set\n`)
    expect(r.stderr).toContain('PROD_DB_PASSWORD is set in the environment but not allowlisted for env test')
  })

  test('--strict-env removes keys the repo does not allowlist for this env from the child', () => {
    const r = sandbox.run(execTest(['--strict-env']), { env })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`AWS=${ASIA} XAI=set PROD=\n`)
    // the flag was given: no warning that suggests it
    expect(r.stderr).not.toContain('--strict-env')
    expect(r.stderr).not.toContain('PROD_DB_PASSWORD')
  })

  // only CI mode warns about keys of other envs present in the environment: that tells the modes apart
  const CI_ONLY = 'PROD_DB_PASSWORD is set in the environment but not allowlisted'

  test.each(['true', 'True', 'TRUE', '1', 'yes', 'woodpecker'])('CI=%s is CI mode; --no-ci turns it off', (value) => {
    expect(sandbox.run(execTest(), { env: { ...env, CI: value } }).stderr).toContain(CI_ONLY)
    expect(sandbox.run(execTest(['--no-ci']), { env: { ...env, CI: value } }).stderr).not.toContain(CI_ONLY)
  })

  test.each(['false', 'FALSE', '0', 'no', 'off', ''])('CI=%s is not CI mode; --ci turns it on', (value) => {
    expect(sandbox.run(execTest(), { env: { ...env, CI: value } }).stderr).not.toContain(CI_ONLY)
    expect(sandbox.run(execTest(['--ci']), { env: { ...env, CI: value } }).stderr).toContain(CI_ONLY)
  })

  test('a missing key: the command never runs, exit 4', () => {
    const r = sandbox.run(execTest(), { env: { CI: 'true', AWS_ACCESS_KEY_ID: ASIA } })
    expect(r.code).toBe(4)
    expect(r.stdout).toBe('')
  })

  test("on GitHub Actions the masks are printed before the command's output", () => {
    const r = sandbox.run(execTest(['--strict-env']), { env: { ...env, GITHUB_ACTIONS: 'true' } })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`::add-mask::${ASIA}\n::add-mask::${XAI}\nAWS=${ASIA} XAI=set PROD=\n`)
    expect(sandbox.files(sandbox.home)).toEqual([])
  })

  test("the child's exit code passes through", () => {
    const r = sandbox.run(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'exit 3'], { env })
    expect(r.code).toBe(3)
  })
})

describe('CI mode: --output github-env', () => {
  test('appends to $GITHUB_ENV, twice is the same file', () => {
    const file = join(sandbox.dir, 'github_env')
    const env = { CI: 'true', GITHUB_ACTIONS: 'true', GITHUB_ENV: file, XAI_API_KEY: XAI, AWS_ACCESS_KEY_ID: ASIA }
    const first = sandbox.run(['get', '--for', 'repo', '--env', 'test', '--output', 'github-env'], { env })
    expect(first.code).toBe(0)
    expect(first.stdout).toBe(`::add-mask::${ASIA}\n::add-mask::${XAI}\n`)
    const content = readFileSync(file, 'utf8')
    const second = sandbox.run(['get', '--for', 'repo', '--env', 'test', '--output', 'github-env'], { env })
    expect(second.code).toBe(0)
    expect(readFileSync(file, 'utf8')).toBe(content)
  })
})
