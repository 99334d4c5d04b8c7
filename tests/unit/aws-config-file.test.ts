/**
 * ~/.aws/config is the user's file and every AWS tool's: keyrack's edit must leave every byte it
 * did not write alone (comments, order, blank lines, CRLF, sub-sections, a missing final newline),
 * write atomically through a symlink, keep the mode, and refuse to overwrite a file that changed
 * under it. The SSO token cache is the AWS CLI's: keyrack reads it only when it is the user's own
 * private file.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { editSections, parseSections, readAwsConfig, writeAwsConfig } from '../../src/aws/config-file.ts'
import { readSsoToken, resolveSsoProfile, tokenCachePath } from '../../src/aws/sso-profile.ts'
import { KeyrackVaultError } from '../../src/domain/errors.ts'

let dir: string
beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'keyrack-aws-config-'))))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const SESSION = { header: 'sso-session acme', values: { sso_start_url: 'https://acme.awsapps.com/start', sso_region: 'us-east-1' } }
const PROFILE = { header: 'profile acme.test.admin', values: { sso_session: 'acme', sso_account_id: '111111111111', sso_role_name: 'AdministratorAccess' } }

describe('parse', () => {
  test('sections, top-level values, sub-sections and comments as botocore reads them', () => {
    const sections = parseSections('# c\n[default]\nregion=eu-west-1\n\n[profile dev]\n  ; indented comment\ns3 =\n  max_concurrent_requests = 4\nregion = us-west-2\n[sso-session  acme ]\nsso_region = us-east-1\n[services x]\n')
    expect(sections.map((s) => [s.kind, s.name])).toEqual([['default', 'default'], ['profile', 'dev'], ['sso-session', 'acme'], ['other', 'services x']])
    expect(sections[1]!.values).toEqual({ s3: '', region: 'us-west-2' })
    expect(sections[0]!.values).toEqual({ region: 'eu-west-1' })
  })
})

describe('edit', () => {
  test('appending keeps every byte before it, adding the separating newline a file without one lacks', () => {
    const before = '# mine\n[profile a]\nregion = x' // no final newline
    const after = editSections(before, [SESSION, PROFILE])
    expect(after.startsWith(`${before}\n`)).toBe(true)
    expect(after).toBe(`${before}\n\n[sso-session acme]\nsso_start_url = https://acme.awsapps.com/start\nsso_region = us-east-1\n\n[profile acme.test.admin]\nsso_session = acme\nsso_account_id = 111111111111\nsso_role_name = AdministratorAccess\n`)
  })

  test('replacing a section changes its key lines only: neighbours, comments after it and CRLF stay', () => {
    const before = '[profile z]\r\nregion = a\r\n\r\n[profile acme.test.admin]\r\nsso_session = old\r\nregion = b\r\n; a comment that belongs to what follows\r\n\r\n[profile y]\r\nregion = c\r\n'
    const after = editSections(before, [PROFILE])
    expect(after).toBe('[profile z]\r\nregion = a\r\n\r\n[profile acme.test.admin]\r\nsso_session = acme\r\nsso_account_id = 111111111111\r\nsso_role_name = AdministratorAccess\r\n; a comment that belongs to what follows\r\n\r\n[profile y]\r\nregion = c\r\n')
  })

  test('an empty file gets just the sections', () => {
    expect(editSections('', [PROFILE])).toBe('[profile acme.test.admin]\nsso_session = acme\nsso_account_id = 111111111111\nsso_role_name = AdministratorAccess\n')
  })
})

describe('write', () => {
  test('through a symlink (dotfiles): the target changes, the link stays, the mode is kept', () => {
    const home = join(dir, 'linked')
    mkdirSync(join(home, '.aws'), { recursive: true })
    const target = join(dir, 'dotfiles-config')
    writeFileSync(target, '[default]\nregion = eu-west-1\n', { mode: 0o640 })
    chmodSync(target, 0o640)
    symlinkSync(target, join(home, '.aws', 'config'))
    const config = readAwsConfig({ env: { HOME: home } })
    writeAwsConfig(config, editSections(config.text, [PROFILE]))
    expect(lstatSync(join(home, '.aws', 'config')).isSymbolicLink()).toBe(true)
    expect(readFileSync(target, 'utf8')).toContain('[profile acme.test.admin]')
    expect(statSync(target).mode & 0o777).toBe(0o640)
  })

  test('a file that changed since it was read is not overwritten', () => {
    const home = join(dir, 'raced')
    mkdirSync(join(home, '.aws'), { recursive: true })
    const file = join(home, '.aws', 'config')
    writeFileSync(file, '[default]\n')
    const config = readAwsConfig({ env: { HOME: home } })
    writeFileSync(file, '[default]\nregion = written-by-another-tool\n')
    expect(() => writeAwsConfig(config, editSections(config.text, [PROFILE]))).toThrow(KeyrackVaultError)
    expect(readFileSync(file, 'utf8')).toBe('[default]\nregion = written-by-another-tool\n')
  })

  test('AWS_CONFIG_FILE is honoured', () => {
    const file = join(dir, 'elsewhere.ini')
    writeFileSync(file, `[${SESSION.header}]\nsso_start_url = https://acme.awsapps.com/start\nsso_region = us-east-1\n[${PROFILE.header}]\nsso_session = acme\nsso_account_id = 111111111111\nsso_role_name = AdministratorAccess\n`)
    expect(resolveSsoProfile({ env: { HOME: join(dir, 'nowhere'), AWS_CONFIG_FILE: file } }, 'acme.test.admin')).toMatchObject({ session: 'acme', startUrl: 'https://acme.awsapps.com/start', accountId: '111111111111' })
  })
})

describe('the SSO token cache', () => {
  const home = () => join(dir, 'cache-home')
  const profile = { profile: 'p', session: 'acme', startUrl: 'https://acme.awsapps.com/start', ssoRegion: 'us-east-1', accountId: '111111111111', roleName: 'R' }
  const write = (data: string, mode = 0o600) => {
    const file = tokenCachePath({ env: { HOME: home() } }, profile)
    mkdirSync(join(home(), '.aws', 'sso', 'cache'), { recursive: true })
    writeFileSync(file, data, { mode })
    chmodSync(file, mode)
    return file
  }
  const token = JSON.stringify({ startUrl: profile.startUrl, region: 'us-east-1', accessToken: 'aoa-token', expiresAt: '2030-01-01T00:00:00Z' })

  test('is found where the CLI writes it: sha1 of the session name', () => {
    expect(tokenCachePath({ env: { HOME: '/h' } }, profile)).toBe(`/h/.aws/sso/cache/${new Bun.CryptoHasher('sha1').update('acme').digest('hex')}.json`)
    write(token)
    expect(readSsoToken({ env: { HOME: home() } }, profile)).toMatchObject({ accessToken: 'aoa-token', expiresAt: Date.UTC(2030, 0, 1) })
  })

  test('a cache file others may write, or that is not the user\'s, is refused (with the fix), never trusted', () => {
    write(token, 0o666)
    expect(() => readSsoToken({ env: { HOME: home() } }, profile)).toThrow(/keyrack will not use it/)
    const file = write(token, 0o600)
    if (process.getuid?.() === 0) {
      chownSync(file, 4242, 4242)
      expect(() => readSsoToken({ env: { HOME: home() } }, profile)).toThrow(KeyrackVaultError)
      chownSync(file, 0, 0)
    }
  })

  test('a torn file, or a token for another start URL, is "not signed in"', () => {
    write('{"accessToken": "aoa-tok')
    expect(readSsoToken({ env: { HOME: home() } }, profile)).toBeNull()
    write(JSON.stringify({ ...JSON.parse(token), startUrl: 'https://other.awsapps.com/start' }))
    expect(readSsoToken({ env: { HOME: home() } }, profile)).toBeNull()
  })
})
