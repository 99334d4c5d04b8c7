/**
 * The SDK as the package ships it (dist/js, built by `bun run build.ts --js`), in-process, on
 * whichever runtime runs this file: `npm run test:node` (node --test) and `npm run test:deno`
 * (deno test, through its node:test support). Plain JavaScript with node:test and node:assert, so
 * the same file runs unchanged on both. Every keyrack here lives in a temp directory.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { after, afterEach, before, beforeEach, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const sdk = await import(join(ROOT, 'dist', 'js', 'index.js'))
const kit = await import(join(ROOT, 'dist', 'js', 'testing', 'index.js'))
const { keyrack } = sdk
const RUNTIME = globalThis.Deno ? 'deno' : globalThis.Bun ? 'bun' : 'node'

/**
 * every test body runs with these watching: the SDK never prints and never exits. (node --test's
 * worker streams its own binary-serialized reports on stdout meanwhile; text is what a print would be.)
 */
let printed = []
const real = { out: process.stdout.write, err: process.stderr.write, exit: process.exit }
const record = (chunk) => {
  if (typeof chunk === 'string') printed.push(chunk)
}
beforeEach(() => {
  printed = []
  process.stdout.write = (chunk, ...rest) => (record(chunk), real.out.call(process.stdout, chunk, ...rest))
  process.stderr.write = (chunk, ...rest) => (record(chunk), real.err.call(process.stderr, chunk, ...rest))
  process.exit = (code) => {
    throw new Error(`the SDK called process.exit(${code})`)
  }
})
afterEach(() => {
  process.stdout.write = real.out
  process.stderr.write = real.err
  process.exit = real.exit
  assert.deepEqual(printed, [], 'the SDK printed')
})

async function rejection(promise) {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.fail('expected a rejection')
}

describe(`the SDK on ${RUNTIME}`, () => {
  let rack
  before(async () => {
    rack = await kit.createTestKeyrack({
      allowlist: { all: ['SHARED'], test: ['XAI_API_KEY', 'DB_PASS'], prod: ['PROD_ONLY'] },
      keys: { 'all.SHARED': 'shared-secret', 'test.XAI_API_KEY': 'xai-test-secret', 'prod.PROD_ONLY': 'prod-secret' },
    })
    await rack.set('test', 'DB_PASS', 'db-secret', 'os.secure')
  })
  after(() => rack.cleanup())

  test('get --for repo: every allowlisted key, os.direct and os.secure, with grades', async () => {
    const { grants } = await keyrack.get({ ...rack.options, for: 'repo', env: 'test' })
    const bySlug = Object.fromEntries(grants.map((g) => [g.slug, [g.key.secret, g.vault, g.key.grade.protection]]))
    assert.deepEqual(bySlug, {
      'acme.all.SHARED': ['shared-secret', 'os.direct', 'plaintext'],
      'acme.test.XAI_API_KEY': ['xai-test-secret', 'os.direct', 'plaintext'],
      'acme.test.DB_PASS': ['db-secret', 'os.secure', 'encrypted'],
    })
  })

  test('all or nothing: one absent key is a typed error with a per-key report and no key', async () => {
    const error = await rejection(keyrack.get({ ...rack.options, for: 'repo', env: 'prod', environment: { ...rack.environment } }).then(() =>
      keyrack.get({ ...rack.options, for: 'repo', env: 'test', cwd: rack.repo, home: join(rack.dir, 'empty-home') }),
    ))
    assert.ok(error instanceof sdk.KeyrackKeysUnavailableError)
    assert.equal(error.exitCode, 4)
    assert.ok(error.report.every((r) => !('grant' in r)))
    assert.ok(!JSON.stringify(error.report).includes('secret'))
  })

  test('the allowlist: a key the repo does not list for the env is refused', async () => {
    const error = await rejection(keyrack.get({ ...rack.options, key: 'PROD_ONLY', env: 'test' }))
    assert.ok(error instanceof sdk.KeyrackNotAllowlistedError)
    assert.equal(error.exitCode, 3)
  })

  test('the firewall: a long-lived AWS key is refused', async () => {
    const error = await rejection(keyrack.set({ ...rack.options, key: 'XAI_API_KEY', env: 'test', vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA', secret: 'AKIAIOSFODNN7EXAMPLE' }))
    assert.ok(error instanceof sdk.KeyrackKeyBlockedError)
  })

  test('never degrade: an os.secure key is not re-set into os.direct', async () => {
    const error = await rejection(keyrack.set({ ...rack.options, key: 'DB_PASS', env: 'test', vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA', secret: 'x' }))
    assert.ok(error instanceof sdk.KeyrackKeyBlockedError)
  })

  test('exec: the child gets exactly the allowlisted keys (keyrack/testing)', async () => {
    const seen = await rack.envSeenBy({ env: 'test' })
    kit.assertExactKeys(seen, rack, 'test', { XAI_API_KEY: 'xai-test-secret', DB_PASS: 'db-secret', SHARED: 'shared-secret' })
    assert.throws(() => kit.assertExactKeys({ ...seen, PROD_ONLY: 'x' }, rack, 'test'), /not allowlisted for env test: PROD_ONLY/)
  })

  test('list and del', async () => {
    const listed = await keyrack.list(rack.options)
    assert.deepEqual(listed.keys.map((k) => k.slug).sort(), ['acme.all.SHARED', 'acme.prod.PROD_ONLY', 'acme.test.DB_PASS', 'acme.test.XAI_API_KEY'])
    await keyrack.del({ ...rack.options, key: 'PROD_ONLY', env: 'prod' })
    assert.equal((await keyrack.list(rack.options)).keys.length, 3)
  })

  test('a repo manifest error names file:line:column (the yaml package, without Bun.YAML)', async () => {
    const broken = await kit.createTestKeyrack({ manifest: 'org: acme\nkeys:\n  A: b\n' }).catch((e) => e)
    assert.ok(broken instanceof sdk.KeyrackManifestInvalidError, String(broken))
    assert.match(broken.message, /keyrack\.yml:2:1/)
  })
})

describe(`import --from rhachet on ${RUNTIME}`, () => {
  const fixture = process.env.KEYRACK_RHACHET_FIXTURE || join(ROOT, '..', '..', 'shared', 'fixtures', 'rhachet-home')
  const dir = mkdtempSync(join(tmpdir(), 'keyrack-portable-import-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test("rhachet's keys come over with rhachet's identity derivation", { skip: !existsSync(fixture) && 'no rhachet fixture' }, async () => {
    const home = join(dir, 'home')
    cpSync(join(fixture, '.rhachet'), join(home, '.rhachet'), { recursive: true })
    for (const entry of readdirSync(join(home, '.rhachet'), { recursive: true, withFileTypes: true }))
      chmodSync(join(entry.parentPath ?? entry.path, entry.name), entry.isDirectory() ? 0o700 : 0o600)
    const tar = spawnSync('tar', ['-xz', '-C', home], { input: Buffer.from(readFileSync(join(fixture, 'ssh-keys.tgz.b64'), 'utf8'), 'base64') })
    assert.equal(tar.status, 0)
    const hash = () => Object.fromEntries(readdirSync(join(home, '.rhachet'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name)).map((f) => [relative(home, f), createHash('sha256').update(readFileSync(f)).digest('hex')]))
    const before = hash()
    const options = { home: join(dir, 'keyrack'), cwd: dir, environment: { HOME: home, PATH: process.env.PATH } }
    const plan = await keyrack.import({ ...options, from: 'rhachet', dryRun: true })
    assert.equal(plan.imported, 3)
    assert.equal(existsSync(join(dir, 'keyrack', 'owner.human.json')), false)
    const result = await keyrack.import({ ...options, from: 'rhachet' })
    assert.deepEqual(result.keys.map((k) => [k.slug, k.action]), [
      ['example.prep.OPENAI_API_KEY', 'import'], ['example.test.OPENAI_API_KEY', 'import'], ['example.test.SLACK_WEBHOOK', 'import'],
    ])
    assert.deepEqual(result.createdOwner, { via: 'ssh', pubkey: join(home, '.ssh', 'id_ed25519.pub'), identity: join(home, '.ssh', 'id_ed25519') })
    // outside a repo only explicit sudo/@all keys are served, so ask from a repo of org example
    mkdirSync(join(dir, 'repo', '.git'), { recursive: true })
    mkdirSync(join(dir, 'repo', '.agent'))
    cpSync(join(fixture, 'keyrack.yml'), join(dir, 'repo', '.agent', 'keyrack.yml'))
    const { grants } = await keyrack.get({ ...options, cwd: join(dir, 'repo'), for: 'repo', env: 'test' })
    assert.deepEqual(grants.map((g) => [g.slug, g.key.secret]), [
      ['example.test.OPENAI_API_KEY', 'sk-example-secure-aaa'],
      ['example.test.SLACK_WEBHOOK', 'https://hooks.example.invalid/T000/B000/direct-bbb'],
    ])
    assert.deepEqual(hash(), before)
  })
})

describe(`the daemon from the SDK on ${RUNTIME}`, () => {
  let rack
  before(async () => {
    rack = await kit.createTestKeyrack({ allowlist: { test: ['ALPHA', 'BETA'] }, keys: { 'test.ALPHA': 'alpha-secret', 'test.BETA': 'beta-secret' }, vault: 'os.secure' })
  })
  after(() => rack.cleanup())

  test('unlock starts it (on Bun: the daemon always runs on Bun), status and get talk to it, relock stops it', async () => {
    assert.equal((await keyrack.status(rack.options)).running, false)
    const unlocked = await rack.startDaemon({ env: 'test', duration: '5m' })
    assert.deepEqual(unlocked.unlocked.map((k) => k.key).sort(), ['ALPHA', 'BETA'])
    const status = await keyrack.status(rack.options)
    assert.equal(status.running, true)
    assert.deepEqual(status.grants.map((g) => g.slug).sort(), ['acme.test.ALPHA', 'acme.test.BETA'])
    const { grants } = await keyrack.get({ ...rack.options, for: 'repo', env: 'test' })
    assert.deepEqual(grants.map((g) => g.key.secret), ['alpha-secret', 'beta-secret'])
    const relocked = await keyrack.relock(rack.options)
    assert.equal(relocked.removed, 2)
    assert.equal((await keyrack.status(rack.options)).running, false)
  })

  test('doctor runs, and says what needs Bun', async () => {
    const checks = await keyrack.doctor(rack.options)
    const hardening = checks.find((c) => c.name === 'hardening')
    if (RUNTIME === 'bun') assert.notEqual(hardening.level, 'info')
    else assert.match(hardening.detail, /needs Bun \(bun:ffi\)/)
    assert.equal(checks.find((c) => c.name === 'daemon').level, 'ok')
  })
})

describe(`the daemon client's check on ${RUNTIME}`, () => {
  // without bun:ffi the client takes the socket file's owner as the daemon's uid (inside the verified
  // 0700 directory); a socket that someone else owns gets nothing. (chown needs root.)
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  test('a socket owned by another uid is refused before anything is sent', { skip: (RUNTIME === 'bun' || !root) && 'node/deno as root only' }, async () => {
    const { createServer } = await import('node:net')
    const { chownSync } = await import('node:fs')
    const rack = await kit.createTestKeyrack({ allowlist: { test: ['K'] } })
    const dir = join(rack.environment.XDG_RUNTIME_DIR, 'keyrack')
    mkdirSync(dir, { mode: 0o700 })
    const socketPath = join(dir, 'human.sock')
    let received = 0
    const server = createServer((socket) => socket.on('data', (d) => (received += d.length)))
    await new Promise((resolve) => server.listen(socketPath, resolve))
    try {
      chownSync(socketPath, 65534, 65534)
      const error = await rejection(keyrack.status(rack.options))
      assert.match(error.message, /is served by uid 65534, not by you \(uid 0\), refusing to talk to it/)
      assert.equal(received, 0)
    } finally {
      await new Promise((resolve) => server.close(resolve))
      await rack.cleanup()
    }
  })
})

describe(`what needs Bun says so on ${RUNTIME}`, () => {
  test('unlock with neither bun nor the keyrack binary on PATH: a typed error naming both installs', { skip: RUNTIME === 'bun' && 'Bun runs the daemon itself' }, async () => {
    const rack = await kit.createTestKeyrack({ allowlist: { test: ['K'] }, keys: { 'test.K': 'k-secret' }, vault: 'os.secure' })
    try {
      const error = await rejection(keyrack.unlock({ ...rack.options, environment: { ...rack.environment, PATH: '/usr/bin:/bin' }, for: 'repo', env: 'test' }))
      assert.ok(error instanceof sdk.KeyrackError)
      assert.match(error.message, /the keyrack daemon runs on Bun, and neither `bun` nor the `keyrack` binary is on PATH \(this is (Node|Deno)/)
      assert.ok(error.hint.some((h) => h.includes('install.sh | sh')))
      assert.equal((await keyrack.status(rack.options)).running, false)
    } finally {
      await rack.cleanup()
    }
  })
})
