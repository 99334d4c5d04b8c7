/**
 * The commands (every one that needs no daemon) on Node and Deno: the citty tree the package exports
 * as `keyrack/cli`, mounted in a tiny host CLI (host-cli.mjs) and run as a child process of the
 * runtime running this file, in a temp HOME and git repo.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const RUNTIME = globalThis.Deno ? 'deno' : 'node'
const dir = mkdtempSync(join(tmpdir(), `keyrack-cli-${RUNTIME}-`))
const repo = join(dir, 'repo')
mkdirSync(join(repo, '.git'), { recursive: true })
mkdirSync(join(repo, '.agent'))
writeFileSync(join(repo, '.agent', 'keyrack.yml'), 'org: acme\nenv.test:\n  - XAI_API_KEY\n  - DB_PASS\n')
// CI spelled out: Deno's child_process adds the parent's variables to `env` (Node replaces them), and
// .ci/run runs with CI=true, which would turn on CI mode
const env = { HOME: join(dir, 'home'), PATH: process.env.PATH, XDG_RUNTIME_DIR: join(dir, 'run'), NO_COLOR: '1', LANG: 'C.UTF-8', CI: 'false' }
mkdirSync(env.HOME)
after(() => rmSync(dir, { recursive: true, force: true }))

function keyrack(args, input = '') {
  const runtime = globalThis.Deno ? [process.execPath, 'run', '--allow-all', '--no-check'] : [process.execPath]
  const r = spawnSync(runtime[0], [...runtime.slice(1), join(HERE, 'host-cli.mjs'), 'keyrack', ...args], { cwd: repo, env, input, encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe(`keyrack commands on ${RUNTIME} (keyrack/cli in a host CLI)`, () => {
  test('init, set, get, list, exec, del, doctor, import --dry-run', () => {
    let r = keyrack(['init', '--no-passphrase'])
    assert.equal(r.code, 0, r.stderr)
    r = keyrack(['set', '--key', 'XAI_API_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], 'xai-cli-secret')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /round trip verified/)
    r = keyrack(['set', '--key', 'DB_PASS', '--env', 'test', '--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], 'db-cli-secret')
    assert.equal(r.code, 0, r.stderr)
    r = keyrack(['get', '--for', 'repo', '--env', 'test', '--output', 'exports'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.stdout.includes("export XAI_API_KEY='xai-cli-secret'") && r.stdout.includes("export DB_PASS='db-cli-secret'"))
    r = keyrack(['list', '--json'])
    assert.deepEqual(JSON.parse(r.stdout).keys.map((k) => k.slug).sort(), ['acme.test.DB_PASS', 'acme.test.XAI_API_KEY'])
    r = keyrack(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'test "$XAI_API_KEY" = xai-cli-secret && test "$DB_PASS" = db-cli-secret'])
    assert.equal(r.code, 0, r.stderr)
    r = keyrack(['del', '--key', 'DB_PASS', '--env', 'test'])
    assert.equal(r.code, 0, r.stderr)
    r = keyrack(['get', '--for', 'repo', '--env', 'test'])
    assert.equal(r.code, 4)
    assert.match(r.stderr, /DB_PASS\s+absent/)
    // no key on stdout: at most the `(exit 4)` status line that makes `source <(…)` fail too
    assert.equal(r.stdout.replace(/\(exit 4\)\n$/, ''), '')
    r = keyrack(['doctor', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(JSON.parse(r.stdout).some((c) => c.name === 'hardening' && /needs Bun/.test(c.detail)))
    r = keyrack(['import', '--from', 'rhachet', '--dry-run'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /rhachet has no keyrack for owner 'human'/)
  })

  test('errors: exit codes and hints as on Bun', () => {
    const r = keyrack(['get', '--key', 'NOT_LISTED', '--env', 'test'])
    assert.equal(r.code, 3)
    assert.match(r.stderr, /keyrack: error: /)
    const bad = keyrack(['set', '--key', 'XAI_API_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], 'AKIAIOSFODNN7EXAMPLE')
    assert.equal(bad.code, 5)
    assert.ok(!bad.stderr.includes('AKIAIOSFODNN7EXAMPLE'))
  })
})
