import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync } from 'node:fs'
import { startReleaseServer } from '../fakes/release-server.ts'
import { Sandbox } from '../helpers/harness.ts'

describe('keyrack doctor', () => {
  const box = new Sandbox('doctor')
  afterAll(() => box.cleanup())

  test('before init: says to run keyrack init, exits 0', () => {
    const r = box.run(['doctor'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/home\s+warn/)
    expect(r.stderr).toContain('keyrack: hint: home: keyrack init')
  })

  test('after init: owner, host manifest, daemon down, repo manifest checked', () => {
    expect(box.initUnprotected().code).toBe(0)
    box.writeRepoManifest('org: acme\nenv.test:\n  - API_KEY\n')
    const r = box.run(['doctor', '--json'])
    expect(r.code).toBe(0)
    const checks = JSON.parse(r.stdout) as { name: string; level: string; detail: string }[]
    const by = (name: string) => checks.find((c) => c.name === name)!
    expect(by('owner').detail).toContain('UNPROTECTED')
    expect(by('host manifest').level).toBe('ok')
    expect(by('daemon').detail).toMatch(/^down/)
    expect(by('repo manifest').detail).toContain('org acme')
  })

  test('a group/other-readable keyrack home fails with the chmod fix', () => {
    chmodSync(box.keyrackHome, 0o755)
    const r = box.run(['doctor'])
    // a failed check is the machine's state (exit 9), never exit 1, which means a bug
    expect(r.code).toBe(9)
    expect(r.stderr).toContain(`chmod 700 ${box.keyrackHome}`)
    chmodSync(box.keyrackHome, 0o700)
  })

  test('an invalid repo manifest is reported, not thrown', () => {
    box.writeRepoManifest('org: acme\nkeys:\n  API_KEY: x\n')
    const r = box.run(['doctor'])
    expect(r.code).toBe(9)
    expect(r.stdout).toMatch(/repo manifest\s+fail\s+\.agent\/keyrack\.yml:2:1/)
  })
})

describe('cli surface', () => {
  const box = new Sandbox('cli')
  afterAll(() => box.cleanup())

  test('--owner may come before the command', () => {
    expect(box.initUnprotected('seaturtle').code).toBe(0)
    const before = box.run(['--owner', 'seaturtle', 'list', '--json'])
    const after = box.run(['list', '--json', '--owner', 'seaturtle'])
    expect(before.code).toBe(0)
    expect(before.stdout).toBe(after.stdout)
    expect(JSON.parse(before.stdout).owner).toBe('seaturtle')
  })

  test('--help piped is plain text (no colour codes) with examples', () => {
    const r = box.run(['get', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).not.toContain('\u001b[')
    expect(r.stdout).toContain('eval "$(keyrack get --for repo --env test)"')
  })

  test('an unknown command suggests the closest one', () => {
    const r = box.run(['unlok'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('did you mean `keyrack unlock`?')
  })
})

describe('keyrack doctor and newer releases', () => {
  const box = new Sandbox('doctor-update')
  // a loopback stand-in for GitHub's releases API (GITHUB_API_URL), whose latest release is newer
  const server = startReleaseServer({ releases: { 'v99.0.0': box.dir }, latest: 'v99.0.0' })
  afterAll(() => {
    server.stop()
    box.cleanup()
  })
  const doctor = async (args: string[]) => (await box.spawn(['doctor', ...args], { env: { GITHUB_API_URL: server.apiUrl } }).done)

  test('makes no network call unless asked, and says how to ask', async () => {
    expect(box.initUnprotected().code).toBe(0)
    const r = await doctor(['--json'])
    expect(r.code).toBe(0)
    const update = (JSON.parse(r.stdout) as { name: string; level: string; detail: string; fix?: string }[]).find((c) => c.name === 'update')!
    expect(update.level).toBe('info')
    expect(update.fix).toBe('keyrack doctor --check-updates')
    expect(server.requests).toEqual([])
  })

  test('--check-updates asks the releases API once and says a newer release is known, with the install command', async () => {
    const r = await doctor(['--check-updates'])
    expect(server.requests).toEqual(['/api/repos/ehmpathy/keyrack/releases/latest'])
    expect(r.stdout).toMatch(/update\s+warn\s+a newer release is known: v99\.0\.0/)
    expect(r.stderr).toContain('keyrack: hint: update: curl -fsSL https://github.com/ehmpathy/keyrack/releases/latest/download/install.sh | sh')
  })

  test('afterwards a plain doctor still knows it, without asking again', async () => {
    const r = await doctor([])
    expect(r.stdout).toMatch(/update\s+warn\s+a newer release is known: v99\.0\.0/)
    expect(server.requests).toHaveLength(1)
  })

  test('an unreachable API is a warning that names the retry, not a crash', async () => {
    const r = await box.spawn(['doctor', '--check-updates'], { env: { GITHUB_API_URL: 'http://127.0.0.1:9/api' } }).done
    expect(r.stdout).toMatch(/update\s+warn\s+could not check for a newer release/)
    expect(r.stderr).toContain('keyrack doctor --check-updates')
  })
})
