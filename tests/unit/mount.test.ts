/**
 * The mountable command (`keyrack/cli`): a host CLI that mounts `keyrackCommand` behaves exactly
 * like the keyrack binary — same stdout, stderr and exit code — on success and failure paths.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBinary, ROOT, Sandbox, type RunResult } from '../helpers/harness.ts'

// scrypt (passphrase identities) and process spawns are slow on a busy machine
setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const HOST = join(ROOT, 'tests', 'fakes', 'host-cli.ts')
const MANIFEST = 'org: acme\nenv.all:\n  - SHARED\nenv.test:\n  - ALPHA\n  - BETA\nenv.prod:\n  - PROD_ONLY\n'

describe('rhx keyrack … behaves exactly like keyrack …', () => {
  const sb = new Sandbox('kr-mount')
  afterAll(() => sb.cleanup())

  /** the same command through the host CLI, in the same sandbox environment */
  const rhx = (args: string[], input = '', env: Record<string, string> = {}): RunResult => {
    const r = spawnSync(process.execPath, [HOST, 'keyrack', ...args], { cwd: sb.repo, env: sb.env(env), input, encoding: 'utf8', timeout: 30_000 })
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr, signal: r.signal }
  }
  const same = (args: string[], input = ''): RunResult => {
    const direct = sb.run(args, { input })
    const mounted = rhx(args, input)
    expect({ args, code: mounted.code, stdout: mounted.stdout, stderr: mounted.stderr }).toEqual({ args, code: direct.code, stdout: direct.stdout, stderr: direct.stderr })
    return direct
  }

  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
    expect(sb.set('ALPHA', 'test', "mount 'alpha' $secret").code).toBe(0)
    expect(sb.set('SHARED', 'all', 'mount-shared').code).toBe(0)
    expect(sb.set('HIDDEN', 'test', 'mount-hidden').code).toBe(0)
  })

  test('the host CLI really is a separate program with its own commands', () => {
    const r = spawnSync(process.execPath, [HOST, 'hello'], { cwd: sb.repo, env: sb.env(), encoding: 'utf8' })
    expect(r.stdout).toBe('hello from the host\n')
  })

  test('set (success and failure)', () => {
    expect(same(['set', '--key', 'BETA', '--env', 'test', '--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], 'mount-beta').code).toBe(0)
    expect(same(['set', '--key', 'BETA', '--env', 'test', '--vault', 'os.direct', '--secret-stdin'], 'x').code).toBe(2)
    expect(same(['set', '--key', 'ALPHA', '--env', 'test', '--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], 'x').code).toBe(5)
    expect(same(['set', '--key', 'BETA', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA']).code).toBe(2)
  })

  test('get in every output format (exports, json, value, table, github-env)', () => {
    const exports = same(['get', '--for', 'repo', '--env', 'test'])
    expect(exports.code).toBe(0)
    expect(exports.stdout).toContain("export ALPHA='mount '\\''alpha'\\'' $secret'\n")
    expect(same(['get', '--for', 'repo', '--env', 'test', '--output', 'json']).stdout).toContain('"secret": "mount-beta"')
    expect(same(['get', '--key', 'BETA', '--env', 'test', '--output', 'value']).stdout).toBe('mount-beta\n')
    expect(same(['get', '--for', 'repo', '--env', 'test', '--output', 'table']).stdout).toContain('••••••••')
    // github-env: each appends to its own $GITHUB_ENV; same output, and the same file
    const args = ['get', '--for', 'repo', '--env', 'test', '--output', 'github-env']
    const [directFile, mountedFile] = [join(sb.dir, 'github-env-direct'), join(sb.dir, 'github-env-mounted')]
    const direct = sb.run(args, { env: { GITHUB_ENV: directFile } })
    const mounted = rhx(args, '', { GITHUB_ENV: mountedFile })
    expect(direct.code).toBe(0)
    expect({ code: mounted.code, stdout: mounted.stdout, stderr: mounted.stderr }).toEqual({ code: direct.code, stdout: direct.stdout, stderr: direct.stderr })
    const assignments = (file: string) => readFileSync(file, 'utf8').replace(/ghadelimiter_[0-9a-f-]+/g, 'DELIM')
    expect(assignments(directFile)).toContain('ALPHA<<DELIM')
    expect(assignments(mountedFile)).toBe(assignments(directFile))
  })

  test('get failures: absent, not allowlisted, bad names, bad flags', () => {
    expect(same(['get', '--for', 'repo', '--env', 'prod']).code).toBe(4)
    expect(same(['get', '--key', 'HIDDEN', '--env', 'test']).code).toBe(3)
    expect(same(['get', '--for', 'repo', '--env', 'staging']).code).toBe(3)
    expect(same(['get', '--key', 'bad-name', '--env', 'test']).code).toBe(2)
    expect(same(['get', '--for', 'repo', '--env', 'test', '--output', 'yaml']).code).toBe(2)
    expect(same(['get', '--env', 'test']).code).toBe(2)
    // the argv check lives in each command, so a host CLI refuses unknown flags and arguments too
    expect(same(['get', '--for', 'repo', '--env', 'test', '--outptu', 'json']).stderr).toContain('did you mean `--output`?')
    expect(same(['relock', '--all']).code).toBe(2)
    expect(same(['exec', '--for', 'repo', '--env', 'test', 'npm', 'test']).code).toBe(2)
  })

  test('exec: environment, exit code and refusal', () => {
    const r = same(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'printf "%s|%s" "$BETA" "$SHARED"; exit 5'])
    expect(r).toMatchObject({ code: 5, stdout: 'mount-beta|mount-shared' })
    expect(same(['exec', '--for', 'repo', '--env', 'prod', '--', 'true']).code).toBe(4)
    // a child killed by SIGTERM: both die the same way
    const args = ['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'kill -TERM $$']
    const direct = sb.run(args)
    const mounted = rhx(args)
    expect(direct.signal === 'SIGTERM' || direct.code === 143).toBe(true)
    expect([mounted.signal, mounted.code]).toEqual([direct.signal, direct.code])
  })

  test('list, del and init', () => {
    expect(same(['list']).code).toBe(0)
    expect(same(['list', '--json']).code).toBe(0)
    expect(same(['del', '--key', 'NOPE', '--env', 'test']).code).toBe(4)
    expect(same(['init', '--no-passphrase']).code).toBe(2)
    expect(same(['list', '--owner', 'Bad!']).code).toBe(2)
  })
})
