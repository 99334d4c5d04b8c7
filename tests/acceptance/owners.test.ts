/**
 * One isolated keyrack per owner (SPEC §3, §4, §6; issue 3), through the compiled binary:
 *
 * - owners seaturtle (X25519, unprotected) and mechanic (ssh-ed25519) each set GITHUB_TOKEN for
 *   the same org/env with different secrets, and each gets only its own — by `--owner` and by
 *   KEYRACK_OWNER;
 * - each owner has its own files, and one owner's identity cannot decrypt the other's;
 * - `list --owner A` shows nothing of B; `del` touches only its owner;
 * - an unknown owner is told to run `keyrack init --owner <name>`; a bad name is a usage error.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { commands } from '../../src/cli/commands/index.ts'
import { BIN, Sandbox } from '../helpers/harness.ts'
import { ageDecrypt, hasTools, ownerFiles, sshKeygen } from '../helpers/keys.ts'

// every test drives the compiled binary several times; a busy machine must not fail them
setDefaultTimeout(30_000)

const SECRET = { seaturtle: 'seaturtle-secret-1', mechanic: 'mechanic-secret-1' } as const
const getToken = ['get', '--key', 'GITHUB_TOKEN', '--env', 'test', '--output', 'value']

let box: Sandbox
let mechanicKey: string

beforeAll(async () => {
  if (!existsSync(BIN)) await (await import('../../build.ts')).buildSingle()
  if (!hasTools) return
  box = new Sandbox('keyrack-owners')
  box.writeRepoManifest('org: acme\nenv.test:\n  - GITHUB_TOKEN\n')
  expect(box.initUnprotected('seaturtle').code).toBe(0)
  mechanicKey = sshKeygen(box, 'id_mechanic')
  expect(box.run(['init', '--owner', 'mechanic', '--via', 'ssh', '--pubkey', `${mechanicKey}.pub`]).code).toBe(0)
  expect(box.set('GITHUB_TOKEN', 'test', SECRET.seaturtle, ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--owner', 'seaturtle']).code).toBe(0)
  // the other owner chosen by the environment, as a robot's shell would
  const set = box.run(['set', '--key', 'GITHUB_TOKEN', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], {
    input: SECRET.mechanic,
    env: { KEYRACK_OWNER: 'mechanic' },
  })
  expect(set.stderr).toContain('round trip verified')
  expect(set.code).toBe(0)
}, 120_000)
afterAll(() => box?.cleanup())

describe.skipIf(!hasTools)('two owners, one machine', () => {
  test('each owner gets only its own GITHUB_TOKEN, by --owner and by KEYRACK_OWNER', () => {
    for (const owner of ['seaturtle', 'mechanic'] as const) {
      const byFlag = box.run([...getToken, '--owner', owner])
      expect(byFlag.code).toBe(0)
      expect(byFlag.stdout).toBe(`${SECRET[owner]}\n`)
      const byEnv = box.run(getToken, { env: { KEYRACK_OWNER: owner } })
      expect(byEnv.stdout).toBe(`${SECRET[owner]}\n`)
      const repo = box.run(['get', '--for', 'repo', '--env', 'test', '--owner', owner])
      expect(repo.stdout).toBe(`export GITHUB_TOKEN='${SECRET[owner]}'\n`)
    }
    // the flag wins over the environment
    expect(box.run([...getToken, '--owner', 'seaturtle'], { env: { KEYRACK_OWNER: 'mechanic' } }).stdout).toBe(`${SECRET.seaturtle}\n`)
  })

  test('each owner has its own files, and one owner cannot decrypt the other', () => {
    const home = box.keyrackHome
    for (const owner of ['seaturtle', 'mechanic']) {
      expect(existsSync(join(home, `host.${owner}.yml.age`))).toBe(true)
      expect(existsSync(join(home, `owner.${owner}.json`))).toBe(true)
      expect(ownerFiles(box, owner)).toHaveLength(2) // host manifest + one os.secure file
    }
    expect(existsSync(join(home, 'host.human.yml.age'))).toBe(false)

    const seaturtleIdentity = join(home, 'identity.seaturtle.key')
    const [seaturtleManifest, seaturtleSecret] = ownerFiles(box, 'seaturtle')
    const [mechanicManifest, mechanicSecret] = ownerFiles(box, 'mechanic')
    // each identity opens its own files ...
    expect(ageDecrypt(seaturtleIdentity, seaturtleManifest!).stdout).toContain('name: seaturtle')
    expect(ageDecrypt(seaturtleIdentity, seaturtleSecret!).stdout).toBe(SECRET.seaturtle)
    expect(ageDecrypt(mechanicKey, mechanicManifest!).stdout).toContain('name: mechanic')
    expect(ageDecrypt(mechanicKey, mechanicSecret!).stdout).toBe(SECRET.mechanic)
    // ... and none of the other's
    for (const [identity, file] of [
      [seaturtleIdentity, mechanicManifest], [seaturtleIdentity, mechanicSecret],
      [mechanicKey, seaturtleManifest], [mechanicKey, seaturtleSecret],
    ]) {
      const r = ageDecrypt(identity!, file!)
      expect(r.code).not.toBe(0)
      expect(r.stderr).toContain('no identity matched')
    }
  })

  test('list --owner A shows nothing of B', () => {
    const mechanicRecipient = JSON.parse(readFileSync(join(box.keyrackHome, 'owner.mechanic.json'), 'utf8')).recipient as string
    const list = box.run(['list', '--owner', 'seaturtle', '--json'])
    expect(list.code).toBe(0)
    const result = JSON.parse(list.stdout)
    expect(result.owner).toBe('seaturtle')
    expect(result.keys.map((k: { slug: string }) => k.slug)).toEqual(['acme.test.GITHUB_TOKEN'])
    expect(list.stdout).not.toContain('mechanic')
    expect(list.stdout).not.toContain(mechanicRecipient.split(' ')[1]!)
    const recipients = box.run(['recipients', 'list', '--owner', 'seaturtle'])
    expect(recipients.code).toBe(0)
    expect(recipients.stdout).not.toContain(mechanicRecipient.split(' ')[1]!)
  })

  test("del --owner A removes only A's key", () => {
    const scratch = new Sandbox('keyrack-owners-del')
    try {
      scratch.writeRepoManifest('org: acme\nenv.test:\n  - GITHUB_TOKEN\n')
      for (const owner of ['seaturtle', 'mechanic'] as const) {
        expect(scratch.initUnprotected(owner).code).toBe(0)
        expect(scratch.set('GITHUB_TOKEN', 'test', SECRET[owner], ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--owner', owner]).code).toBe(0)
      }
      expect(scratch.run(['del', '--key', 'GITHUB_TOKEN', '--env', 'test', '--owner', 'seaturtle']).code).toBe(0)
      const gone = scratch.run([...getToken, '--owner', 'seaturtle'])
      expect(gone.code).toBe(4)
      expect(gone.stderr).toContain('absent')
      expect(scratch.run([...getToken, '--owner', 'mechanic']).stdout).toBe(`${SECRET.mechanic}\n`)
    } finally {
      scratch.cleanup()
    }
  })

  test('an unknown owner is told to run `keyrack init --owner <name>`', () => {
    const hint = '`keyrack init --owner ghost`'
    for (const argv of [
      ['list'],
      ['recipients', 'list'],
      ['del', '--key', 'GITHUB_TOKEN', '--env', 'test'],
      ['set', '--key', 'GITHUB_TOKEN', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'],
    ]) {
      for (const how of [{ args: ['--owner', 'ghost'] }, { env: { KEYRACK_OWNER: 'ghost' } }]) {
        const r = box.run([...argv, ...(how.args ?? [])], { input: 'ghost-secret-1', env: how.env })
        expect(r.code).toBe(8)
        expect(r.stderr).toContain("keyrack: error: owner 'ghost' has no keyrack yet")
        expect(r.stderr).toContain(`keyrack: hint: create it: ${hint}`)
      }
    }
    // get reports the key absent, with the init first
    const get = box.run([...getToken, '--owner', 'ghost'])
    expect(get.code).toBe(4)
    expect(get.stdout).toBe('')
    expect(get.stderr).toContain("owner 'ghost' has no keyrack yet")
    expect(get.stderr).toContain(`create it: ${hint}, then: keyrack set --key GITHUB_TOKEN --env test`)
    // the default owner is `human`, which was never initialized here
    const human = box.run(['list'])
    expect(human.code).toBe(8)
    expect(human.stderr).toContain('keyrack: hint: create it: `keyrack init`')
    expect(existsSync(join(box.keyrackHome, 'owner.ghost.json'))).toBe(false)
  })

  test('bad owner names are usage errors (exit 2) on every command, by flag and by KEYRACK_OWNER', () => {
    // one invocation per command of the command table (completion takes no owner): a new command
    // must be added here, or this test fails
    const everyCommand: Record<string, string[]> = {
      init: ['init', '--no-passphrase'],
      set: ['set', '--key', 'K', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'],
      get: getToken,
      source: ['source', '--env', 'test'],
      fill: ['fill', '--env', 'test'],
      exec: ['exec', '--for', 'repo', '--env', 'test'],
      list: ['list'],
      del: ['del', '--key', 'K', '--env', 'test'],
      recipients: ['recipients', 'list'],
      unlock: ['unlock', '--for', 'repo', '--env', 'test'],
      relock: ['relock'],
      status: ['status'],
      doctor: ['doctor'],
      import: ['import', '--from', 'rhachet', '--dry-run'],
      policy: ['policy'],
      guard: ['guard', 'check'],
      'git-credential': ['git-credential', 'get'],
      audit: ['audit'],
      mcp: ['mcp'],
    }
    expect(Object.keys(everyCommand).sort()).toEqual(Object.keys(commands).filter((c) => c !== 'completion').sort())
    const before = box.files(box.keyrackHome).sort()
    for (const name of ['Bad', '1x', 'a'.repeat(33), '../etc', '']) {
      for (const [command, args] of Object.entries(everyCommand)) {
        // exec's own flags go before `--`; what follows is the child's command line
        const argv = command === 'exec' ? [...args, `--owner=${name}`, '--', 'true'] : [...args, `--owner=${name}`]
        const byFlag = box.run(argv, { input: 'never-stored' })
        expect(byFlag.code).toBe(2)
        expect(byFlag.stderr).toContain(name === '' ? '`--owner` needs a value' : 'owner name is invalid')
        expect(byFlag.stderr).toContain('keyrack: hint:')
        if (name === '') continue // an empty KEYRACK_OWNER is unset
        const byEnv = box.run(command === 'exec' ? [...args, '--', 'true'] : args, { input: 'never-stored', env: { KEYRACK_OWNER: name } })
        expect(byEnv.code).toBe(2)
        expect(byEnv.stderr).toContain('owner name is invalid')
      }
    }
    expect(box.files(box.keyrackHome).sort()).toEqual(before)
    // the longest valid name works
    const longest = 'a'.repeat(32)
    expect(box.initUnprotected(longest).code).toBe(0)
    expect(existsSync(join(box.keyrackHome, `host.${longest}.yml.age`))).toBe(true)
  })
})
