/**
 * `keyrack get` and `keyrack exec` from the compiled binary: all or nothing with per-key states
 * and the exact hints, env fallback and lookup order, every output format (exports eval-able by
 * sh and bash), exec's environment/exit code/signals, and the allowlist — refused before any
 * manifest or vault is read.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBinary, killGroup, Sandbox, type RunResult, withoutShellStatus } from '../helpers/harness.ts'

// scrypt (passphrase identities) and process spawns are slow on a busy machine
setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const SECURE = ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA']
const DIRECT = ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']
const MANIFEST = 'org: acme\nenv.all:\n  - SHARED\nenv.test:\n  - ALPHA\n  - BETA\nenv.prod:\n  - PROD_ONLY\n'
/** every character that could break out of a shell quote */
const NASTY = `it's "quoted" $HOME \${PATH} \`touch "$PWNED"\` $(touch "$PWNED") \\ back\\slash\n  second line\twith tab ; & | > < * ? ~ ! #\n'`

function expectError(r: RunResult, code: number, error: RegExp, hint?: RegExp): void {
  expect({ code: r.code, stdout: withoutShellStatus(r) }).toEqual({ code, stdout: '' })
  expect(r.stderr).toMatch(/^keyrack: error: /m)
  expect(r.stderr).toMatch(error)
  if (hint) expect(r.stderr.slice(r.stderr.indexOf('keyrack: hint: '))).toMatch(hint)
}

describe('get --for repo: all or nothing, per-key states', () => {
  const sb = new Sandbox('kr-get')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
  })
  const get = (...args: string[]) => sb.run(['get', '--for', 'repo', '--env', 'test', ...args])

  test('nothing set: every key absent, with the exact set command; nothing on stdout', () => {
    const r = get()
    expectError(r, 4, /3 of 3 keys not granted: ALPHA \(absent\), BETA \(absent\), SHARED \(absent\)/)
    expect(r.stderr).toMatch(/^keyrack: +ALPHA +absent +not in the host manifest$/m)
    const hints = r.stderr.split('\n').filter((l) => l.startsWith('keyrack: hint: '))
    expect(hints).toContain('keyrack: hint: keyrack set --key ALPHA --env test --vault os.secure --mech <mech> (choose the mech: `keyrack set --help` lists them)')
    // an env.all key is meant to be set once, for every env
    expect(hints).toContain('keyrack: hint: keyrack set --key SHARED --env all --vault os.secure --mech <mech> (choose the mech: `keyrack set --help` lists them)')
  })

  test('some granted, some absent: still nothing emitted, the report shows each state', () => {
    expect(sb.set('ALPHA', 'test', 'alpha-secret').code).toBe(0)
    const r = get('--output', 'json')
    expectError(r, 4, /2 of 3 keys not granted: BETA \(absent\), SHARED \(absent\)/)
    expect(r.stderr).toMatch(/^keyrack: +ALPHA +granted$/m)
    expect(r.stderr).not.toContain('alpha-secret')
  })

  test('every key granted: exports by default when stdout is not a TTY', () => {
    expect(sb.set('BETA', 'test', 'beta-secret', DIRECT).code).toBe(0)
    expect(sb.set('SHARED', 'all', 'shared-secret').code).toBe(0)
    const r = get()
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("export ALPHA='alpha-secret'\nexport BETA='beta-secret'\nexport SHARED='shared-secret'\n")
    expect(r.stderr).toBe('')
  })

  test('env fallback: org.all.KEY answers when org.<env>.KEY is not set, and org.<env>.KEY wins when it is', () => {
    const json = JSON.parse(get('--output', 'json').stdout)
    const shared = json.keys.find((k: { key: string }) => k.key === 'SHARED')
    expect(shared).toMatchObject({ slug: 'acme.all.SHARED', state: 'granted', secret: 'shared-secret' })
    expect(sb.set('SHARED', 'test', 'shared-for-test').code).toBe(0)
    const again = JSON.parse(get('--output', 'json').stdout).keys.find((k: { key: string }) => k.key === 'SHARED')
    expect(again).toMatchObject({ slug: 'acme.test.SHARED', secret: 'shared-for-test' })
    // prod still falls back to the all value; nothing was copied at storage time
    expect(sb.run(['get', '--key', 'SHARED', '--env', 'prod', '--output', 'value'])).toMatchObject({ code: 0, stdout: 'shared-secret\n' })
    // a key listed only under env.test but stored under env all is found by fallback as well
    expect(sb.set('PROD_ONLY', 'all', 'prod-from-all').code).toBe(0)
    expect(sb.run(['get', '--key', 'PROD_ONLY', '--env', 'prod', '--output', 'value']).stdout).toBe('prod-from-all\n')
  })

  test('lookup order: os.direct beats the caller environment; the environment fills what is not stored', () => {
    const r = sb.run(['get', '--for', 'repo', '--env', 'test', '--output', 'json'], { env: { BETA: 'from-env', ALPHA: 'from-env' } })
    const keys = JSON.parse(r.stdout).keys
    expect(keys.find((k: { key: string }) => k.key === 'BETA')).toMatchObject({ secret: 'beta-secret', vault: 'os.direct' })
    // an unprotected identity opens without asking, so os.secure answers before the environment too
    expect(keys.find((k: { key: string }) => k.key === 'ALPHA')).toMatchObject({ secret: 'alpha-secret', vault: 'os.secure' })
    expect(sb.run(['del', '--key', 'PROD_ONLY', '--env', 'all']).code).toBe(0)
    const prod = sb.run(['get', '--for', 'repo', '--env', 'prod', '--output', 'json'], { env: { PROD_ONLY: 'env-value' } })
    expect(prod.code).toBe(0)
    expect(JSON.parse(prod.stdout).keys.find((k: { key: string }) => k.key === 'PROD_ONLY')).toMatchObject({
      secret: 'env-value', vault: 'os.envvar', grade: { protection: 'plaintext', duration: 'permanent' },
    })
    expect(sb.run(['get', '--for', 'repo', '--env', 'prod']).code).toBe(4)
  })

  test('--output json: grants with grades, mech, vault and expiry', () => {
    const r = get('--output', 'json')
    expect(r.code).toBe(0)
    const json = JSON.parse(r.stdout)
    expect(json.env).toBe('test')
    expect(json.keys[0]).toEqual({
      key: 'ALPHA', slug: 'acme.test.ALPHA', state: 'granted', secret: 'alpha-secret',
      grade: { protection: 'encrypted', duration: 'permanent' }, mech: 'PERMANENT_VIA_REPLICA', vault: 'os.secure', expiresAt: null,
    })
    expect(json.keys[1]).toMatchObject({ key: 'BETA', grade: { protection: 'plaintext', duration: 'permanent' }, vault: 'os.direct' })
    expect(sb.run(['get', '--for', 'repo', '--env', 'test', '--json']).stdout).toBe(r.stdout)
  })

  test('--output value: exactly one key', () => {
    expect(sb.run(['get', '--key', 'ALPHA', '--env', 'test', '--output', 'value'])).toMatchObject({ code: 0, stdout: 'alpha-secret\n', stderr: '' })
    expectError(get('--output', 'value'), 2, /`--output value` prints exactly one key/, /--key KEY/)
  })

  test('--output table masks every secret, and is the default on a TTY', () => {
    const r = get('--output', 'table')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^KEY\s+STATE\s+GRADE\s+VAULT\s+MECH\s+EXPIRES\s+SECRET\n/)
    expect(r.stdout).toMatch(/ALPHA\s+granted\s+encrypted,permanent\s+os\.secure\s+PERMANENT_VIA_REPLICA\s+••••••••/)
    expect(r.stdout).not.toMatch(/alpha-secret|beta-secret|shared/)
    // on a terminal (script(1) gives the command a pty) the table is the default
    const tty = sb.sh(`script -qec '"$KEYRACK" get --for repo --env test' /dev/null`)
    expect(tty.code).toBe(0)
    expect(tty.stdout).toContain('••••••••')
    expect(tty.stdout).not.toContain('export ')
    expect(tty.stdout).not.toMatch(/alpha-secret|beta-secret|shared-for-test/)
  })

  test('--output exports is eval-able by sh and source-able by bash, with any characters in the secret', () => {
    expect(sb.set('ALPHA', 'test', NASTY).code).toBe(0)
    const expected = `${NASTY}|beta-secret`
    const marker = join(sb.dir, 'pwned')
    const evald = sb.sh(`eval "$("$KEYRACK" get --for repo --env test)" && printf '%s|%s' "$ALPHA" "$BETA"`, { env: { PWNED: marker } })
    expect(evald).toMatchObject({ code: 0, stdout: expected })
    const sourced = sb.sh(`source <("$KEYRACK" get --for repo --env test --output exports) && printf '%s|%s' "$ALPHA" "$BETA"`, { shell: 'bash', env: { PWNED: marker } })
    expect(sourced).toMatchObject({ code: 0, stdout: expected })
    expect(existsSync(marker)).toBe(false)
  })

  test('--output exports of a failing get emits no key, only a failing status for eval', () => {
    const r = sb.sh(`out="$("$KEYRACK" get --for repo --env prod)"; rc=$?; printf '%s|%s' "$rc" "$out"`)
    expect(r.stdout).toBe('4|(exit 4)')
    // eval of it fails with keyrack's exit code, so `set -e` stops there
    expect(sb.sh(`set -e; eval "$("$KEYRACK" get --for repo --env prod)"; echo reached`)).toMatchObject({ code: 4, stdout: '' })
  })
})

describe('exec', () => {
  const sb = new Sandbox('kr-exec')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
    expect(sb.set('ALPHA', 'test', 'exec-alpha').code).toBe(0)
    expect(sb.set('BETA', 'test', 'exec-beta', DIRECT).code).toBe(0)
    expect(sb.set('SHARED', 'all', 'exec-shared').code).toBe(0)
  })
  const exec = (cmd: string[], extra: string[] = []) => sb.run(['exec', '--for', 'repo', '--env', 'test', ...extra, '--', ...cmd])

  test('the child gets the keys in its environment; the calling shell never does', () => {
    const r = sb.sh(`"$KEYRACK" exec --for repo --env test -- sh -c 'printf "%s,%s,%s;" "$ALPHA" "$BETA" "$SHARED"'; printf 'after=%s' "\${ALPHA-unset}"`)
    expect(r).toMatchObject({ code: 0, stdout: 'exec-alpha,exec-beta,exec-shared;after=unset' })
    // the rest of the caller's environment passes through
    expect(exec(['sh', '-c', 'printf %s "$KEEP_ME"'], []).stdout).toBe('')
    expect(sb.run(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'printf %s "$KEEP_ME"'], { env: { KEEP_ME: 'kept' } }).stdout).toBe('kept')
  })

  test('exec --key gives one key', () => {
    const r = sb.run(['exec', '--key', 'ALPHA', '--env', 'test', '--', 'sh', '-c', 'printf "%s|%s" "$ALPHA" "${BETA-unset}"'])
    expect(r).toMatchObject({ code: 0, stdout: 'exec-alpha|unset' })
  })

  test("the child's arguments are passed as they are, flags included", () => {
    const r = exec(['sh', '-c', 'printf "[%s]" "$@"', 'sh', '--help', '--env', 'prod', "it's"])
    expect(r).toMatchObject({ code: 0, stdout: "[--help][--env][prod][it's]" })
  })

  test('the exit code passes through', () => {
    expect(exec(['sh', '-c', 'exit 42']).code).toBe(42)
    expect(exec(['true']).code).toBe(0)
    expect(exec(['false']).code).toBe(1)
  })

  test('a child killed by SIGTERM: keyrack dies by SIGTERM (or exits 143)', () => {
    const r = exec(['sh', '-c', 'kill -TERM $$'])
    expect(r.signal === 'SIGTERM' || r.code === 143).toBe(true)
  })

  test('SIGTERM sent to keyrack is forwarded to the child', async () => {
    const ready = join(sb.dir, 'child-ready')
    // keyrack runs in its own process group, so a failure (ready file late under load) still ends the
    // `sh` child and its `sleep`s instead of leaving them looping after the suite
    const { proc, done } = sb.spawn(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', `trap 'echo got-term; exit 7' TERM; touch "${ready}"; while :; do sleep 0.05; done`], { timeoutMs: 10_000, detached: true })
    try {
      for (let i = 0; i < 200 && !existsSync(ready); i++) await Bun.sleep(25)
      expect(existsSync(ready)).toBe(true)
      proc.kill('SIGTERM')
      const r = await done
      expect(r.stdout).toBe('got-term\n')
      expect(r.code).toBe(7)
    } finally {
      killGroup(proc)
      await done
    }
  })

  test('when a key is not granted, the command never runs', () => {
    const marker = join(sb.dir, 'ran')
    const r = sb.run(['exec', '--for', 'repo', '--env', 'prod', '--', 'touch', marker])
    expectError(r, 4, /PROD_ONLY \(absent\)/)
    expect(existsSync(marker)).toBe(false)
  })

  test('no command: a usage error; a command that is missing or not executable: 127 / 126, as a shell says', () => {
    expectError(sb.run(['exec', '--for', 'repo', '--env', 'test']), 2, /no command to run/, /keyrack exec --for repo --env test -- npm test/)
    expectError(exec(['no-such-command-kr']), 127, /command not found: "no-such-command-kr"/, /PATH/)
    const script = join(sb.dir, 'not-executable.sh')
    writeFileSync(script, 'echo hi\n', { mode: 0o644 })
    expectError(exec([script]), 126, /command cannot be executed/, /chmod \+x/)
  })
})

describe('allowlist: refused before the host manifest or any vault is read', () => {
  const sb = new Sandbox('kr-allowlist')
  afterAll(() => sb.cleanup())
  const home = sb.keyrackHome
  const manifestPath = join(sb.repo, '.agent', 'keyrack.yml')

  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest('org: acme\nenv.test:\n  - LISTED\nenv.prod:\n  - PROD_KEY\n')
    // keys present in the host manifest (and their vaults) that the repo does not list for test
    expect(sb.set('LISTED', 'test', 'listed-secret', DIRECT).code).toBe(0)
    expect(sb.set('HIDDEN_SECURE', 'test', 'hidden-secure-secret').code).toBe(0)
    expect(sb.set('HIDDEN_DIRECT', 'test', 'hidden-direct-secret', DIRECT).code).toBe(0)
    expect(sb.set('PROD_KEY', 'prod', 'prod-secret', DIRECT).code).toBe(0)
  })

  test('a listed get never returns an unlisted key, even one in the same vault', () => {
    const r = sb.run(['get', '--for', 'repo', '--env', 'test'])
    expect(r).toMatchObject({ code: 0, stdout: "export LISTED='listed-secret'\n" })
  })

  test('get --key of an unlisted key: exit 3 naming the repo manifest', () => {
    for (const key of ['HIDDEN_SECURE', 'HIDDEN_DIRECT']) {
      const r = sb.run(['get', '--key', key, '--env', 'test', '--output', 'value'])
      expectError(r, 3, new RegExp(`${key} is not allowlisted for env test by ${manifestPath.replaceAll('.', '\\.')}`), /add it under `env\.test:` in \.agent\/keyrack\.yml/)
    }
    // listed for another env is not listed for this one; another org is not this repo's
    expectError(sb.run(['get', '--key', 'PROD_KEY', '--env', 'test']), 3, /PROD_KEY is not allowlisted for env test/)
    expectError(sb.run(['get', '--key', 'LISTED', '--env', 'test', '--org', 'other']), 3, /not allowlisted/)
  })

  test('once every vault file and the host manifest are garbage, refused requests still fail only on the allowlist', () => {
    // if a refused request read any of these, it would fail with a decrypt/parse error instead
    writeFileSync(join(home, 'host.human.yml.age'), 'garbage: not an age file\n')
    writeFileSync(join(home, 'direct.human.json'), '{ garbage')
    const secureDir = join(home, 'secure', 'human')
    for (const f of readdirSync(secureDir)) writeFileSync(join(secureDir, f), 'garbage')
    const marker = join(sb.dir, 'exec-ran')
    const refused: [string[], RegExp][] = [
      [['get', '--key', 'HIDDEN_SECURE', '--env', 'test'], /HIDDEN_SECURE is not allowlisted for env test by .*\.agent\/keyrack\.yml/],
      [['get', '--key', 'HIDDEN_DIRECT', '--env', 'test', '--output', 'json'], /HIDDEN_DIRECT is not allowlisted/],
      [['get', '--key', 'PROD_KEY', '--env', 'test'], /PROD_KEY is not allowlisted/],
      [['get', '--for', 'repo', '--env', 'staging'], /env staging is not declared in .*\.agent\/keyrack\.yml/],
      [['exec', '--key', 'HIDDEN_DIRECT', '--env', 'test', '--', 'touch', marker], /HIDDEN_DIRECT is not allowlisted/],
      [['exec', '--for', 'repo', '--env', 'staging', '--', 'touch', marker], /env staging is not declared/],
    ]
    for (const [args, message] of refused) {
      const r = sb.run(args)
      expectError(r, 3, message)
      expect(r.stderr).not.toMatch(/cannot decrypt|not a valid os\.direct file|host manifest/)
    }
    expect(existsSync(marker)).toBe(false)
    // control: a listed key does reach the (now broken) vault, so the garbage would have been noticed
    const control = sb.run(['get', '--key', 'LISTED', '--env', 'test'])
    expect(control.code).toBe(6)
    expect(control.stderr).toContain('direct.human.json is not a valid os.direct file')
    expect(control.stderr).not.toContain('garbage')
  })

  test('outside a repo with a manifest, only sudo and @all keys by explicit --key', () => {
    const other = new Sandbox('kr-allowlist-outside')
    try {
      expect(other.initUnprotected().code).toBe(0)
      expectError(other.run(['get', '--key', 'ANY', '--env', 'test', '--org', 'acme']), 3, /outside a repo with \.agent\/keyrack\.yml only sudo and @all keys/, /--org @all/)
      expect(other.run(['set', '--key', 'ANY', '--env', 'test', '--org', '@all', ...SECURE, '--secret-stdin'], { input: 'machine' }).code).toBe(0)
      expect(other.run(['get', '--key', 'ANY', '--env', 'test', '--org', '@all', '--output', 'value'])).toMatchObject({ code: 0, stdout: 'machine\n' })
      expect(other.run(['set', '--key', 'ADMIN', '--env', 'sudo', '--org', 'acme', ...SECURE, '--secret-stdin'], { input: 'root' }).code).toBe(0)
      expect(other.run(['get', '--key', 'ADMIN', '--env', 'sudo', '--org', 'acme', '--output', 'value'])).toMatchObject({ code: 0, stdout: 'root\n' })
    } finally {
      other.cleanup()
    }
  })
})
