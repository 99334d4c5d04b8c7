/**
 * keyrack import --from rhachet against a keyrack home that rhachet 1.45.2 itself wrote
 * (/work/shared/fixtures/rhachet-home, or $KEYRACK_RHACHET_FIXTURE): copied into a sandbox HOME, with
 * its two passphrase-less ed25519 keys extracted into that sandbox's ~/.ssh (never the real one).
 * rhachet derived X25519 identities from those keys, so this proves keyrack re-derives them the same
 * way, reads rhachet's os.secure and os.direct files, creates the keyrack owner on the same key,
 * writes nothing unless everything round-trips, and never changes a byte of rhachet's files.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { Sandbox } from '../helpers/harness.ts'
import { onTerminal } from '../helpers/pty.ts'
import { installFakeAws } from '../fakes/aws-process.ts'
import { installFakeOp } from '../fakes/op.ts'

const FIXTURE = process.env.KEYRACK_RHACHET_FIXTURE || join(import.meta.dir, '..', '..', '..', '..', 'shared', 'fixtures', 'rhachet-home')
const fixture = existsSync(FIXTURE) ? FIXTURE : '/work/shared/fixtures/rhachet-home'

const EXPECTED = {
  human: {
    'example.test.OPENAI_API_KEY': ['os.secure', 'sk-example-secure-aaa'],
    'example.test.SLACK_WEBHOOK': ['os.direct', 'https://hooks.example.invalid/T000/B000/direct-bbb'],
    'example.prep.OPENAI_API_KEY': ['os.secure', 'sk-example-prep-ccc'],
  },
  mechanic: { 'example.test.OPENAI_API_KEY': ['os.secure', 'sk-mechanic-ddd'] },
} as const
const ALL_SECRETS = [...Object.values(EXPECTED.human), ...Object.values(EXPECTED.mechanic)].map(([, secret]) => secret)

/** a sandbox HOME holding rhachet's keyrack and its ssh keys, and a repo with the fixture's manifest */
function rhachetSandbox(name: string): Sandbox {
  const box = new Sandbox(name)
  cpSync(join(fixture, '.rhachet'), join(box.home, '.rhachet'), { recursive: true })
  // the fixture is read-only; rhachet's own files are the user's, writable by them
  for (const entry of readdirSync(join(box.home, '.rhachet'), { recursive: true, withFileTypes: true }))
    chmodSync(join(entry.parentPath, entry.name), entry.isDirectory() ? 0o700 : 0o600)
  chmodSync(join(box.home, '.rhachet'), 0o700)
  const keys = Buffer.from(readFileSync(join(fixture, 'ssh-keys.tgz.b64'), 'utf8'), 'base64')
  const tar = spawnSync('tar', ['-xz', '-C', box.home], { input: keys })
  if (tar.status !== 0) throw new Error(`cannot extract the fixture's ssh keys: ${tar.stderr}`)
  box.writeRepoManifest(readFileSync(join(fixture, 'keyrack.yml'), 'utf8'))
  return box
}

/** sha-256 of every file rhachet wrote (everything under ~/.rhachet/keyrack that is not keyrack's) */
function rhachetFiles(box: Sandbox): Record<string, string> {
  const root = join(box.home, '.rhachet', 'keyrack')
  const ours = /^(host\..*\.yml\.age|inventory\..*\.json|owner\..*\.json|identity\..*|direct\..*\.json|secure\/.*|\.lock\..*|release-check\.json|audit\..*)$/
  const out: Record<string, string> = {}
  for (const file of box.files(root)) {
    const name = relative(root, file)
    if (!ours.test(name)) out[name] = createHash('sha256').update(readFileSync(file)).digest('hex')
  }
  return out
}

describe('keyrack import --from rhachet', () => {
  let box: Sandbox
  let before: Record<string, string>
  beforeAll(() => {
    box = rhachetSandbox('import')
    before = rhachetFiles(box)
    expect(Object.keys(before).length).toBeGreaterThanOrEqual(10)
  })
  afterAll(() => box.cleanup())

  test("before the import, get says the key is absent and names the import command", () => {
    const r = box.run(['get', '--for', 'repo', '--env', 'test'])
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/OPENAI_API_KEY\s+absent/)
    expect(r.stderr).toContain("keyrack: hint: if it is in rhachet's keyrack, bring every key over: keyrack import --from rhachet")
  })

  test('--dry-run prints the plan and writes nothing, not even the owner', () => {
    const r = box.run(['import', '--from', 'rhachet', '--dry-run'])
    expect(r.code).toBe(0)
    for (const slug of Object.keys(EXPECTED.human)) expect(r.stdout).toMatch(new RegExp(`${slug.replace(/\./g, '\\.')}\\s+os\\.(secure|direct)\\s+PERMANENT_VIA_REPLICA\\s+would import`))
    expect(r.stderr).toContain(`would create keyrack owner 'human' on the same key: --via ssh --pubkey ${box.home}/.ssh/id_ed25519.pub`)
    expect(r.stderr).toContain('dry run: 3 to import, 0 unchanged, 0 skipped; nothing was written')
    expect(existsSync(join(box.keyrackHome, 'owner.human.json'))).toBe(false)
    expect(existsSync(join(box.keyrackHome, 'host.human.yml.age'))).toBe(false)
    expect(rhachetFiles(box)).toEqual(before)
  })

  test("import creates owner human on rhachet's ssh key and moves every key over, round trip verified", () => {
    const r = box.run(['import', '--from', 'rhachet'])
    if (r.code !== 0) throw new Error(r.stderr)
    expect(r.stderr).toContain(`created keyrack owner 'human' on the same key: --via ssh --pubkey ${box.home}/.ssh/id_ed25519.pub`)
    expect(r.stderr).toContain('imported 3 keys (round trip verified)')
    const config = JSON.parse(readFileSync(join(box.keyrackHome, 'owner.human.json'), 'utf8'))
    expect(config).toMatchObject({ via: 'ssh', identityFile: join(box.home, '.ssh', 'id_ed25519'), passphrase: false })
    // the same key opens it from now on: get reads every key, with the vault and mech rhachet had
    const got = box.run(['get', '--for', 'repo', '--env', 'test', '--output', 'json'])
    expect(got.code).toBe(0)
    const keys = JSON.parse(got.stdout).keys as { slug: string; vault: string; mech: string; secret: string }[]
    expect(keys.every((k) => k.mech === 'PERMANENT_VIA_REPLICA')).toBe(true)
    expect(Object.fromEntries(keys.map((k) => [k.slug, [k.vault, k.secret]]))).toEqual({
      'example.test.OPENAI_API_KEY': [...EXPECTED.human['example.test.OPENAI_API_KEY']],
      'example.test.SLACK_WEBHOOK': [...EXPECTED.human['example.test.SLACK_WEBHOOK']],
    })
    const prep = box.run(['get', '--key', 'OPENAI_API_KEY', '--env', 'prep', '--output', 'value'])
    expect(prep.stdout).toBe('sk-example-prep-ccc\n')
    // timestamps come from rhachet
    const list = JSON.parse(box.run(['list', '--json']).stdout)
    expect(JSON.stringify(list)).toContain('2026-12-01T06:04:45.009Z')
    // an os.secure secret is encrypted to the ssh key (opens with the age CLI and that key)
    const secure = box.files(join(box.keyrackHome, 'secure', 'human'))
    expect(secure).toHaveLength(2)
    const age = spawnSync('age', ['-d', '-i', join(box.home, '.ssh', 'id_ed25519'), secure[0]!], { encoding: 'utf8' })
    expect(['sk-example-secure-aaa', 'sk-example-prep-ccc']).toContain(age.stdout)
    // no secret in the import's own output
    for (const secret of ALL_SECRETS) expect(r.stdout + r.stderr).not.toContain(secret)
    expect(statSync(join(box.keyrackHome, 'direct.human.json')).mode & 0o777).toBe(0o600)
  }, 60_000)

  test('a second import changes nothing', () => {
    const manifest = readFileSync(join(box.keyrackHome, 'host.human.yml.age'))
    const r = box.run(['import', '--from', 'rhachet'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/example\.test\.OPENAI_API_KEY\s+os\.secure\s+PERMANENT_VIA_REPLICA\s+unchanged/)
    expect(r.stderr).toContain('imported 0 keys (round trip verified); 3 unchanged, 0 skipped')
    expect(readFileSync(join(box.keyrackHome, 'host.human.yml.age'))).toEqual(manifest)
  })

  test("--owner mechanic imports rhachet's owner mechanic onto ~/.ssh/mechanic; the owners stay apart", () => {
    const r = box.run(['import', '--from', 'rhachet', '--owner', 'mechanic'])
    if (r.code !== 0) throw new Error(r.stderr)
    expect(r.stderr).toContain(`created keyrack owner 'mechanic' on the same key: --via ssh --pubkey ${box.home}/.ssh/mechanic.pub`)
    const v = box.run(['get', '--key', 'OPENAI_API_KEY', '--env', 'test', '--owner', 'mechanic', '--output', 'value'])
    expect(v.stdout).toBe('sk-mechanic-ddd\n')
    expect(box.run(['get', '--key', 'OPENAI_API_KEY', '--env', 'test', '--output', 'value']).stdout).toBe('sk-example-secure-aaa\n')
  }, 60_000)

  test("rhachet's files are byte for byte what they were", () => {
    expect(rhachetFiles(box)).toEqual(before)
  })

  test('an owner rhachet does not have: the error lists the ones it has', () => {
    const r = box.run(['import', '--from', 'rhachet', '--owner', 'foreman'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("rhachet has no keyrack for owner 'foreman'")
    expect(r.stderr).toContain('rhachet has keyracks for: human (its default owner), mechanic')
  })
})

describe('keyrack import: all or nothing', () => {
  test('a key that fails to store undoes the keys stored before it and the owner it created', () => {
    const box = rhachetSandbox('import-undo')
    try {
      const before = rhachetFiles(box)
      // the os.direct store fails (its file is a directory), after both os.secure keys were stored
      mkdirSync(join(box.keyrackHome, 'direct.human.json'), { recursive: true, mode: 0o700 })
      chmodSync(box.keyrackHome, 0o700)
      const r = box.run(['import', '--from', 'rhachet'])
      expect(r.code).toBe(6)
      expect(r.stderr).toContain('the import was undone, nothing was written')
      expect(existsSync(join(box.keyrackHome, 'owner.human.json'))).toBe(false)
      expect(existsSync(join(box.keyrackHome, 'host.human.yml.age'))).toBe(false)
      expect(box.files(join(box.keyrackHome, 'secure'))).toEqual([])
      expect(rhachetFiles(box)).toEqual(before)
    } finally {
      box.cleanup()
    }
  }, 60_000)

  test('a secret missing from rhachet stops the import before anything is written', () => {
    const box = rhachetSandbox('import-missing')
    try {
      const secureDir = join(box.home, '.rhachet', 'keyrack', 'vault', 'os.secure', 'owner=default')
      rmSync(join(secureDir, readdirSync(secureDir)[0]!))
      const r = box.run(['import', '--from', 'rhachet'])
      expect(r.code).toBe(6)
      expect(r.stderr).toMatch(/rhachet's host manifest lists example\.(test|prep)\.OPENAI_API_KEY \(os\.secure\), but rhachet's vault holds no secret for it; nothing was imported/)
      expect(existsSync(box.keyrackHome + '/owner.human.json')).toBe(false)
    } finally {
      box.cleanup()
    }
  })

  test('keys in vaults keyrack lacks are reported per key, the rest imported', async () => {
    const box = rhachetSandbox('import-vaults')
    try {
      // rhachet's manifest as rhachet writes it, re-encrypted to the same recipient, with two more keys
      const { Encrypter, armor } = await import('age-encryption')
      const manifest = {
        uri: '~/.rhachet/keyrack/keyrack.host.age',
        owner: null,
        recipients: [{ mech: 'age', pubkey: 'age1xyduud7fzyt5keft058vkcgynnzhn7dws8xq95l0cx5gl9f3culsgtnq65', label: 'default', addedAt: '2026-12-01T06:04:43.924Z' }],
        hosts: {
          'example.test.SLACK_WEBHOOK': { slug: 'example.test.SLACK_WEBHOOK', exid: null, vault: 'os.direct', mech: 'PERMANENT_VIA_REPLICA', env: 'test', org: 'example', meta: null, maxDuration: null, createdAt: '2026-12-01T06:04:45.570Z', updatedAt: '2026-12-01T06:04:45.570Z' },
          'example.test.XAI_API_KEY': { slug: 'example.test.XAI_API_KEY', exid: 'op://Private/xai/credential', vault: '1password', mech: 'PERMANENT_VIA_REFERENCE', env: 'test', org: 'example', meta: null, maxDuration: null, createdAt: '2026-12-01T06:05:00.000Z', updatedAt: '2026-12-01T06:05:00.000Z' },
          'example.test.AWS_PROFILE': { slug: 'example.test.AWS_PROFILE', exid: 'example.test.admin', vault: 'aws.config', mech: 'EPHEMERAL_VIA_AWS_SSO', env: 'test', org: 'example', meta: null, maxDuration: null, createdAt: '2026-12-01T06:05:00.000Z', updatedAt: '2026-12-01T06:05:00.000Z' },
        },
      }
      const encrypter = new Encrypter()
      encrypter.addRecipient(manifest.recipients[0]!.pubkey)
      writeFileSync(join(box.home, '.rhachet', 'keyrack', 'keyrack.host.age'), armor.encode(await encrypter.encrypt(JSON.stringify(manifest, null, 2))))
      // a machine without the AWS CLI (whatever this one has installed)
      const noAws = { PATH: (process.env.PATH ?? '').split(':').filter((d) => d && !existsSync(join(d, 'aws'))).join(':') }
      const r = box.run(['import', '--from', 'rhachet'], { env: noAws })
      if (r.code !== 0) throw new Error(r.stderr)
      // a 1Password reference likewise: only where op is installed (and signed in)
      expect(r.stdout).toMatch(/example\.test\.XAI_API_KEY\s+1password\s+PERMANENT_VIA_REFERENCE\s+skip\s+vault 1password cannot be used here: op \(the 1Password CLI\) is not installed/)
      // an AWS SSO profile is a reference: it comes over only where it works (the AWS CLI, the profile)
      expect(r.stdout).toMatch(/example\.test\.AWS_PROFILE\s+aws\.config\s+EPHEMERAL_VIA_AWS_SSO\s+skip\s+vault aws\.config cannot be used here: the AWS CLI \(`aws`\) is not installed/)
      expect(r.stdout).toMatch(/example\.test\.SLACK_WEBHOOK\s+os\.direct\s+PERMANENT_VIA_REPLICA\s+imported/)
      expect(r.stderr).toContain('imported 1 key (round trip verified); 0 unchanged, 2 skipped')
      expect(r.stderr).toContain('keyrack: hint: example.test.XAI_API_KEY: install it: https://developer.1password.com/docs/cli/get-started/')
      // with the AWS CLI installed and the profile in ~/.aws/config, a second import brings the pointer over
      const env = { PATH: `${installFakeAws(box.dir)}:${process.env.PATH}` }
      const missing = box.run(['import', '--from', 'rhachet'], { env })
      expect(missing.stdout).toMatch(/example\.test\.AWS_PROFILE\s+aws\.config\s+EPHEMERAL_VIA_AWS_SSO\s+skip\s+the AWS profile example\.test\.admin is not in/)
      mkdirSync(join(box.home, '.aws'), { recursive: true })
      writeFileSync(join(box.home, '.aws', 'config'), '[sso-session example]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n\n[profile example.test.admin]\nsso_session = example\nsso_account_id = 111111111111\nsso_role_name = AdministratorAccess\n')
      const again = box.run(['import', '--from', 'rhachet'], { env })
      expect(again.code).toBe(0)
      expect(again.stdout).toMatch(/example\.test\.AWS_PROFILE\s+aws\.config\s+EPHEMERAL_VIA_AWS_SSO\s+imported/)
      const listed = box.run(['list', '--json'], { env })
      expect(JSON.parse(listed.stdout).keys.find((k: { slug: string }) => k.slug === 'example.test.AWS_PROFILE')).toMatchObject({ vault: 'aws.config', mech: 'EPHEMERAL_VIA_AWS_SSO' })
      // with op installed and signed in, and the item in 1Password, the reference comes over too: read
      // once through `op read` to prove it resolves, recorded as the same reference
      const op = installFakeOp(join(box.dir, 'fake-op'))
      op.addItem({ vault: 'Private', title: 'xai', fields: { credential: 'xai-from-1password-1' } })
      const withOp = { ...env, PATH: `${op.binDir}:${env.PATH}`, ...op.env, ...op.signIn() }
      const third = box.run(['import', '--from', 'rhachet'], { env: withOp })
      expect(third.code).toBe(0)
      expect(third.stdout).toMatch(/example\.test\.XAI_API_KEY\s+1password\s+PERMANENT_VIA_REFERENCE\s+imported/)
      const all = JSON.parse(box.run(['list', '--json'], { env: withOp }).stdout).keys
      expect(all.find((k: { slug: string }) => k.slug === 'example.test.XAI_API_KEY')).toMatchObject({ vault: '1password', mech: 'PERMANENT_VIA_REFERENCE' })
      expect(op.count('read')).toBeGreaterThan(0)
      expect(op.leaks()).toEqual([])
      expect(third.stdout + third.stderr).not.toContain('xai-from-1password-1')
      // signed out: without a terminal the reference is skipped with the sign-in to run first…
      const signedOut = { ...env, PATH: `${op.binDir}:${env.PATH}`, ...op.env }
      box.run(['del', '--key', 'XAI_API_KEY', '--env', 'test', '--org', 'example'], { env: withOp })
      const noTerminal = box.run(['import', '--from', 'rhachet'], { env: signedOut })
      expect(noTerminal.stdout).toMatch(/example\.test\.XAI_API_KEY\s+1password\s+PERMANENT_VIA_REFERENCE\s+skip\s+1Password is not signed in/)
      expect(noTerminal.stderr).toContain('eval "$(op signin)"')
      // …and on a terminal op signs in once for the whole import, and is signed out when it ends
      const before = { signin: op.count('signin'), signout: op.count('signout') }
      const onTty = onTerminal(box, ['import', '--from', 'rhachet'], [{ expect: 'Enter the password for dev@keyrack.test', send: `${op.password}\r` }], { env: signedOut, timeout: 60 })
      if (onTty.missing) throw new Error(onTty.out)
      expect(onTty.missing).toBeNull()
      expect(onTty.code).toBe(0)
      expect(onTty.out).toMatch(/example\.test\.XAI_API_KEY\s+1password\s+PERMANENT_VIA_REFERENCE\s+imported/)
      expect(op.count('signin') - before.signin).toBe(1)
      expect(op.count('signout') - before.signout).toBe(1)
      expect(op.leaks()).toEqual([])
    } finally {
      box.cleanup()
    }
  }, 180_000)
})

describe('a rhachet keyrack on a passphrase-protected ssh key', () => {
  // rhachet encrypts to such a key as a real ssh-ed25519 recipient, with the age CLI (as here)
  test('imports with the passphrase on a file descriptor, onto an owner that asks for the same passphrase', () => {
    const box = new Sandbox('import-protected')
    try {
      const ssh = join(box.home, '.ssh')
      mkdirSync(ssh, { recursive: true, mode: 0o700 })
      const key = join(ssh, 'id_ed25519')
      expect(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse', '-C', 'rhachet-user', '-f', key]).status).toBe(0)
      const root = join(box.home, '.rhachet', 'keyrack')
      const pub = readFileSync(`${key}.pub`, 'utf8').trim()
      const ageEncrypt = (text: string, file: string) => {
        mkdirSync(join(file, '..'), { recursive: true })
        const r = spawnSync('age', ['-e', '-a', '-r', pub, '-o', file], { input: text })
        if (r.status !== 0) throw new Error(String(r.stderr))
      }
      const slug = 'acme.test.XAI_API_KEY'
      ageEncrypt(JSON.stringify({
        uri: '~/.rhachet/keyrack/keyrack.host.age', owner: null,
        recipients: [{ mech: 'ssh', pubkey: pub, label: 'default', addedAt: '2026-11-01T00:00:00.000Z' }],
        hosts: { [slug]: { slug, exid: null, vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', env: 'test', org: 'acme', meta: null, maxDuration: null, createdAt: '2026-11-02T00:00:00.000Z', updatedAt: '2026-11-03T00:00:00.000Z' } },
      }), join(root, 'keyrack.host.age'))
      ageEncrypt('xai-protected-secret-EXAMPLE', join(root, 'vault', 'os.secure', 'owner=default', `${createHash('sha256').update(slug).digest('hex').slice(0, 16)}.age`))

      const r = box.run(['import', '--from', 'rhachet', '--passphrase-fd', '3'], { fds: { 3: 'correct horse\n' } })
      if (r.code !== 0) throw new Error(r.stderr)
      expect(r.stderr).toContain('imported 1 key (round trip verified)')
      expect(JSON.parse(readFileSync(join(box.keyrackHome, 'owner.human.json'), 'utf8'))).toMatchObject({ via: 'ssh', passphrase: true })
      const list = box.run(['list', '--json', '--passphrase-fd', '3'], { fds: { 3: 'correct horse\n' } })
      expect(list.stdout).toContain('2026-11-03T00:00:00.000Z')
      // without the passphrase nothing opens
      const none = box.run(['import', '--from', 'rhachet'])
      expect(none.code).toBe(8)
      expect(none.stderr).toContain('passphrase-protected and no passphrase can be asked for here')
    } finally {
      box.cleanup()
    }
  }, 60_000)
})

describe("the owner is created on rhachet's key", () => {
  test("a missing .pub: the error gives the ssh-keygen line, and after running it the import goes through", () => {
    const box = rhachetSandbox('import-nopub')
    try {
      const key = join(box.home, '.ssh', 'id_ed25519')
      rmSync(`${key}.pub`)
      const r = box.run(['import', '--from', 'rhachet'])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(`${key}.pub (the public half of rhachet's key) is missing`)
      const fix = `ssh-keygen -y -f ${key} > ${key}.pub`
      expect(r.stderr).toContain(`keyrack: hint: write it: \`${fix}\`, then run \`keyrack import --from rhachet\` again`)
      expect(existsSync(join(box.keyrackHome, 'owner.human.json'))).toBe(false)
      // the hint, pasted
      expect(box.sh(fix).code).toBe(0)
      const again = box.run(['import', '--from', 'rhachet'])
      if (again.code !== 0) throw new Error(again.stderr)
      expect(again.stderr).toContain('imported 3 keys (round trip verified)')
    } finally {
      box.cleanup()
    }
  }, 60_000)
})

describe('a key keyrack already holds with another secret', () => {
  test('stops the import before anything is written; the hinted del, then import, takes rhachet\'s', () => {
    const box = rhachetSandbox('import-conflict')
    try {
      expect(box.run(['import', '--from', 'rhachet']).code).toBe(0)
      const changed = box.run(['set', '--key', 'SLACK_WEBHOOK', '--env', 'test', '--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], { input: 'https://hooks.example.invalid/changed-in-keyrack' })
      expect(changed.code).toBe(0)
      const manifest = readFileSync(join(box.keyrackHome, 'host.human.yml.age'))
      const r = box.run(['import', '--from', 'rhachet'])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('keyrack already holds a different secret for example.test.SLACK_WEBHOOK; nothing was imported')
      expect(readFileSync(join(box.keyrackHome, 'host.human.yml.age'))).toEqual(manifest)
      const del = r.stderr.match(/to take rhachet's instead: (keyrack del [^,]+),/)?.[1]
      expect(del).toBe('keyrack del --key SLACK_WEBHOOK --env test')
      expect(box.run(del!.split(' ').slice(1)).code).toBe(0)
      const again = box.run(['import', '--from', 'rhachet'])
      expect(again.code).toBe(0)
      expect(again.stderr).toContain('imported 1 key (round trip verified); 2 unchanged, 0 skipped')
      expect(box.run(['get', '--key', 'SLACK_WEBHOOK', '--env', 'test', '--output', 'value']).stdout).toBe('https://hooks.example.invalid/T000/B000/direct-bbb\n')
    } finally {
      box.cleanup()
    }
  }, 60_000)
})
