/**
 * The github.secrets vault through the compiled binary, with a fake `gh` on PATH that keeps the
 * real tool's contract (tests/fakes/gh.ts) and fails if a secret ever reaches its argv: `set`
 * provisions a repository or environment secret with the value on gh's stdin and proves it by
 * listing it; `get` reports the key `remote` (exit 4, nothing on stdout) with the CI recipe; CI mode
 * reads it from the job's environment; `del` removes it; gh's failures are typed errors with the fix.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { ensureBinary, Sandbox, withoutShellStatus } from '../helpers/harness.ts'
import { installFakeGh, type FakeGh } from '../fakes/gh.ts'

setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const SECRET = 'xai-provisioned-to-ci-5f1c2e'
const MANIFEST = ['org: acme', 'env.prep:', '  - XAI_API_KEY', 'env.test:', '  - LOCAL_KEY', ''].join('\n')

describe('github.secrets', () => {
  const box = new Sandbox('kr-github-secrets')
  let gh: FakeGh
  const env = () => ({ PATH: `${gh.binDir}:${process.env.PATH}` })
  const run = (args: string[], input?: string) => box.run(args, { env: env(), ...(input === undefined ? {} : { input }) })
  const provision = (exid: string, secret = SECRET, key = 'XAI_API_KEY') =>
    run(['set', '--key', key, '--env', 'prep', '--vault', 'github.secrets', '--mech', 'PERMANENT_VIA_REPLICA', '--exid', exid, '--secret-stdin'], secret)

  beforeAll(() => {
    gh = installFakeGh(box.dir)
    expect(box.initUnprotected().code).toBe(0)
    box.writeRepoManifest(MANIFEST)
  })
  afterAll(() => {
    // no argv gh ever saw held the secret; the fake also refused any such call
    for (const call of gh.calls()) expect(call.argv.join(' ')).not.toContain(SECRET)
    // (but where it was asked for on stdout: CI mode's exports)
    expect(box.transcript.filter((t) => t !== `export XAI_API_KEY='${SECRET}'\n`).join('\n')).not.toContain(SECRET)
    expect(box.filesContaining(SECRET, (f) => f.startsWith(gh.stateDir))).toEqual([])
    box.cleanup()
  })

  test('set provisions the repository secret with the value on gh stdin, and proves it is listed', () => {
    const r = provision('acme/widgets')
    expect(r.stderr).toContain('keyrack: set acme.prep.XAI_API_KEY in github.secrets via PERMANENT_VIA_REPLICA (grade encrypted,permanent); round trip verified')
    expect(r.code).toBe(0)
    expect(gh.secret('acme/widgets', 'XAI_API_KEY')).toBe(SECRET)
    const calls = gh.calls()
    expect(calls.map((c) => c.argv.join(' '))).toEqual(['secret set XAI_API_KEY --repo acme/widgets', 'secret list --repo acme/widgets --json name'])
    expect(calls[0]!.stdin).toBe(SECRET)
    const list = run(['list'])
    expect(list.stdout).toMatch(/acme\.prep\.XAI_API_KEY\s.*github\.secrets/)
  })

  test('get reports it remote: exit 4, no key on stdout, and how CI gets it', () => {
    const r = run(['get', '--for', 'repo', '--env', 'prep'])
    expect(r.code).toBe(4)
    expect(withoutShellStatus(r)).toBe('')
    expect(r.stderr).toContain('XAI_API_KEY (remote)')
    expect(r.stderr).toContain('env: XAI_API_KEY: ${{ secrets.XAI_API_KEY }}')
    expect(r.stderr).toContain('keyrack get --for repo --env prep --ci')
    const json = run(['get', '--for', 'repo', '--env', 'prep', '--output', 'json'])
    expect(json.code).toBe(4)
    // unlock has nothing to do for it
    const unlock = run(['unlock', '--for', 'repo', '--env', 'prep'])
    expect(unlock.code).toBe(4)
    expect(unlock.stderr).toContain('XAI_API_KEY: github.secrets holds it where only CI reads it')
  })

  test('in CI the job passes it in the environment, and get grants it there', () => {
    const r = box.run(['get', '--for', 'repo', '--env', 'prep', '--ci'], { env: { ...env(), XAI_API_KEY: SECRET } })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`export XAI_API_KEY='${SECRET}'\n`)
  })

  test('an environment secret: OWNER/REPO/environments/NAME becomes --env NAME', () => {
    const r = run(['set', '--key', 'DEPLOY_KEY', '--env', 'prep', '--org', 'acme', '--vault', 'github.secrets', '--mech', 'PERMANENT_VIA_REPLICA', '--exid', 'acme/widgets/environments/production', '--secret-stdin'], 'deploy-secret-b71')
    expect(r.code).toBe(0)
    expect(gh.calls().at(-2)!.argv).toEqual(['secret', 'set', 'DEPLOY_KEY', '--repo', 'acme/widgets', '--env', 'production'])
    expect(gh.secret('acme/widgets', 'DEPLOY_KEY', 'production')).toBe('deploy-secret-b71')
    const del = run(['del', '--key', 'DEPLOY_KEY', '--env', 'prep', '--org', 'acme'])
    expect(del.code).toBe(0)
    expect(gh.calls().at(-1)!.argv).toEqual(['secret', 'delete', 'DEPLOY_KEY', '--repo', 'acme/widgets', '--env', 'production'])
    expect(gh.secret('acme/widgets', 'DEPLOY_KEY', 'production')).toBeUndefined()
  })

  test('what cannot work is refused before gh runs: no --exid, a bad one, a GITHUB_ name, a trailing newline', () => {
    const before = gh.calls().length
    const noExid = run(['set', '--key', 'XAI_API_KEY', '--env', 'prep', '--vault', 'github.secrets', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], SECRET)
    expect(noExid.code).toBe(2)
    expect(noExid.stderr).toContain('github.secrets provisions the secret elsewhere: say where with `--exid OWNER/REPO[/environments/ENVIRONMENT]`')
    const bad = provision('https://github.com/acme/widgets')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('`--exid` for github.secrets names a repository')
    const reserved = run(['set', '--key', 'GITHUB_PAT_COPY', '--env', 'prep', '--org', 'acme', '--vault', 'github.secrets', '--mech', 'PERMANENT_VIA_REPLICA', '--exid', 'acme/widgets', '--secret-stdin'], 'x-secret-value')
    expect(reserved.code).toBe(2)
    expect(reserved.stderr).toContain('must not start with GITHUB_')
    const newline = run(['set', '--key', 'OTHER_KEY', '--env', 'prep', '--org', 'acme', '--vault', 'github.secrets', '--mech', 'PERMANENT_VIA_REPLICA', '--exid', 'acme/widgets', '--secret-stdin'], 'two\nlines\n\n')
    expect(newline.code).toBe(2)
    expect(newline.stderr).toContain('ends with a line break, which gh drops')
    expect(gh.calls().length).toBe(before)
  })

  test("gh's failures say what to do: signed out (exit 6, gh auth login), a repository that is not there (404)", () => {
    gh.setRepos(['acme/widgets'])
    const unknown = run(['set', '--key', 'XAI_API_KEY', '--env', 'prep', '--vault', 'github.secrets', '--mech', 'PERMANENT_VIA_REPLICA', '--exid', 'acme/nope', '--secret-stdin'], 'another-secret-9a1')
    expect(unknown.code).toBe(6)
    expect(unknown.stderr).toContain('GitHub has no repository acme/nope where you can set secrets (404)')
    expect(unknown.stderr).toContain('gh repo view acme/nope')
    // the failed provision left the earlier one alone
    expect(gh.secret('acme/widgets', 'XAI_API_KEY')).toBe(SECRET)
    gh.signOut()
    const signedOut = provision('acme/widgets', 'yet-another-secret-3c')
    expect(signedOut.code).toBe(6)
    expect(signedOut.stderr).toContain('gh is not signed in to GitHub')
    expect(signedOut.stderr).toContain('`gh auth login`')
  })
})

test('a key this machine holds is not moved to CI by accident; a key moved back from CI leaves the Actions secret alone', () => {
  const box = new Sandbox('kr-github-secrets-move')
  const gh = installFakeGh(box.dir)
  const env = { PATH: `${gh.binDir}:${process.env.PATH}` }
  try {
    expect(box.initUnprotected().code).toBe(0)
    box.writeRepoManifest(MANIFEST)
    expect(box.run(['set', '--key', 'LOCAL_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], { input: 'local-secret-77', env }).code).toBe(0)
    const move = box.run(['set', '--key', 'LOCAL_KEY', '--env', 'test', '--vault', 'github.secrets', '--mech', 'PERMANENT_VIA_REPLICA', '--exid', 'acme/widgets', '--secret-stdin'], { input: 'local-secret-77', env })
    expect(move.code).toBe(2)
    expect(move.stderr).toContain('acme.test.LOCAL_KEY is kept in os.secure: provisioning it to github.secrets would replace that record')
    expect(move.stderr).toContain('keyrack del --key LOCAL_KEY --env test')
    expect(gh.calls()).toEqual([])
    expect(box.run(['get', '--for', 'repo', '--env', 'test'], { env }).stdout).toBe("export LOCAL_KEY='local-secret-77'\n")

    expect(box.run(['set', '--key', 'XAI_API_KEY', '--env', 'prep', '--vault', 'github.secrets', '--mech', 'PERMANENT_VIA_REPLICA', '--exid', 'acme/widgets', '--secret-stdin'], { input: SECRET, env }).code).toBe(0)
    const back = box.run(['set', '--key', 'XAI_API_KEY', '--env', 'prep', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], { input: SECRET, env })
    expect(back.code).toBe(0)
    expect(back.stderr).toContain('XAI_API_KEY stays a GitHub Actions secret where it was provisioned (acme/widgets)')
    expect(gh.secret('acme/widgets', 'XAI_API_KEY')).toBe(SECRET)
    expect(box.run(['get', '--for', 'repo', '--env', 'prep'], { env }).stdout).toBe(`export XAI_API_KEY='${SECRET}'\n`)
  } finally {
    box.cleanup()
  }
})
