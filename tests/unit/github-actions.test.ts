/**
 * GitHub Actions helpers (SPEC §11 CI mode): masking, and the `$GITHUB_ENV` file round trip.
 * All values are fakes.
 */
import { afterAll, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  appendGithubEnv,
  escapeCommandData,
  githubEnvBlock,
  isGithubActions,
  maskLines,
  parseGithubEnvFile,
  pickDelimiter,
} from '../../src/ci/github-actions.ts'
import { KeyrackUsageError } from '../../src/domain/errors.ts'

const dir = mkdtempSync(join(tmpdir(), 'keyrack-gha-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let envFile = ''
let n = 0
beforeEach(() => {
  envFile = join(dir, `github_env_${n++}`)
})

/** the value GitHub would apply for each key: the last assignment wins */
const finalValues = (content: string): Record<string, string> =>
  Object.fromEntries(parseGithubEnvFile(content).map((a) => [a.key, a.value]))

describe('isGithubActions', () => {
  test('true only for GITHUB_ACTIONS=true', () => {
    expect(isGithubActions({ GITHUB_ACTIONS: 'true' })).toBe(true)
    expect(isGithubActions({ GITHUB_ACTIONS: 'false' })).toBe(false)
    expect(isGithubActions({ CI: 'true' })).toBe(false)
    expect(isGithubActions({})).toBe(false)
  })
})

describe('maskLines', () => {
  test('one add-mask line per secret', () => {
    expect(maskLines(['AKIAIOSFODNN7EXAMPLE', 'fake-token-EXAMPLE'])).toBe(
      '::add-mask::AKIAIOSFODNN7EXAMPLE\n::add-mask::fake-token-EXAMPLE\n',
    )
  })

  test('nothing to mask gives an empty string', () => {
    expect(maskLines([])).toBe('')
    expect(maskLines(['', '  \n\t'])).toBe('')
  })

  test('a multi-line secret is masked line by line, blank lines skipped', () => {
    const pem = '-----BEGIN FAKE KEY-----\nAAAAEXAMPLE\r\n\nBBBBEXAMPLE\n-----END FAKE KEY-----\n'
    expect(maskLines([pem]).split('\n').filter(Boolean)).toEqual([
      '::add-mask::-----BEGIN FAKE KEY-----',
      '::add-mask::AAAAEXAMPLE',
      '::add-mask::BBBBEXAMPLE',
      '::add-mask::-----END FAKE KEY-----',
    ])
  })

  test('no emitted line carries a raw newline or carriage return', () => {
    const out = maskLines(['a\rb\nc\r\nd'])
    expect(out).toBe('::add-mask::a\n::add-mask::b\n::add-mask::c\n::add-mask::d\n')
  })

  test('% is escaped so the runner does not decode it', () => {
    expect(maskLines(['50%off%0AEXAMPLE'])).toBe('::add-mask::50%25off%250AEXAMPLE\n')
    expect(escapeCommandData('%\r\n')).toBe('%25%0D%0A')
  })

  test('surrounding whitespace: masked as is and trimmed; duplicates once', () => {
    expect(maskLines(['  padded-EXAMPLE ', 'padded-EXAMPLE'])).toBe(
      '::add-mask::  padded-EXAMPLE \n::add-mask::padded-EXAMPLE\n',
    )
  })
})

describe('parseGithubEnvFile', () => {
  test('reads K=V and heredoc forms, in order', () => {
    const content = 'A=1\n\nB<<EOF\nline one\nline two\nEOF\nC=x=y<<z\nA=2\n'
    expect(parseGithubEnvFile(content)).toEqual([
      { key: 'A', value: '1' },
      { key: 'B', value: 'line one\nline two' },
      { key: 'C', value: 'x=y<<z' },
      { key: 'A', value: '2' },
    ])
    expect(finalValues(content).A).toBe('2')
  })

  test('an empty heredoc value and a trailing newline in a value survive', () => {
    expect(parseGithubEnvFile('E<<D\n\nD\nF<<D\nv\n\nD\n')).toEqual([
      { key: 'E', value: '' },
      { key: 'F', value: 'v\n' },
    ])
  })

  test('malformed files are refused with the line number only', () => {
    for (const [content, line] of [
      ['A=1\nB<<EOF\nfake-secret-EXAMPLE\n', 2],
      ['just-a-fake-secret-EXAMPLE\n', 1],
      ['=x\n', 1],
    ] as const) {
      try {
        parseGithubEnvFile(content, 'env')
        throw new Error('expected a parse error')
      } catch (error) {
        expect(error).toBeInstanceOf(KeyrackUsageError)
        const message = (error as Error).message
        expect(message).toStartWith(`env line ${line}:`)
        expect(message).not.toContain('EXAMPLE')
      }
    }
  })
})

describe('heredoc block and delimiter', () => {
  test('the block parses back to the value', () => {
    for (const value of ['', 'x', 'a\nb', 'ends with newline\n', 'EOF', 'K<<D', '%0A %25']) {
      expect(parseGithubEnvFile(githubEnvBlock('K', value))).toEqual([{ key: 'K', value }])
    }
  })

  test('a delimiter found in the value is never used', () => {
    const ids = ['collide', 'fresh']
    const value = 'before\nghadelimiter_collide\nafter'
    const delimiter = pickDelimiter('K', value, () => ids.shift() ?? 'unused')
    expect(delimiter).toBe('ghadelimiter_fresh')
  })

  test('a broken id source is refused rather than risk an ambiguous file', () => {
    expect(() => pickDelimiter('K', 'ghadelimiter_same', () => 'same')).toThrow(KeyrackUsageError)
  })

  test('default delimiters look like @actions/core ones', () => {
    expect(pickDelimiter('K', 'v')).toMatch(/^ghadelimiter_[0-9a-f-]{36}$/)
  })
})

describe('appendGithubEnv', () => {
  const entries = [
    { key: 'AWS_PROFILE', secret: 'fake-profile' },
    { key: 'PEM', secret: '-----BEGIN FAKE-----\nAAAAEXAMPLE\n-----END FAKE-----' },
  ]

  test('creates the file and writes parseable assignments', async () => {
    const result = await appendGithubEnv(envFile, entries)
    expect(result).toEqual({ appended: ['AWS_PROFILE', 'PEM'], unchanged: [] })
    const content = readFileSync(envFile, 'utf8')
    expect(finalValues(content)).toEqual({ AWS_PROFILE: 'fake-profile', PEM: entries[1]?.secret ?? '' })
    expect(content).toMatch(/^AWS_PROFILE<<ghadelimiter_[0-9a-f-]{36}\nfake-profile\nghadelimiter_/)
    expect(statSync(envFile).mode & 0o777).toBe(0o600)
  })

  test('is idempotent: running twice leaves the same file', async () => {
    await appendGithubEnv(envFile, entries)
    const first = readFileSync(envFile, 'utf8')
    const again = await appendGithubEnv(envFile, entries)
    expect(again).toEqual({ appended: [], unchanged: ['AWS_PROFILE', 'PEM'] })
    expect(readFileSync(envFile, 'utf8')).toBe(first)
  })

  test('recognizes an existing K=V assignment as the same value', async () => {
    writeFileSync(envFile, 'OTHER=1\nAWS_PROFILE=fake-profile\n')
    const result = await appendGithubEnv(envFile, [{ key: 'AWS_PROFILE', secret: 'fake-profile' }])
    expect(result.appended).toEqual([])
    expect(readFileSync(envFile, 'utf8')).toBe('OTHER=1\nAWS_PROFILE=fake-profile\n')
  })

  test('only the last assignment counts: a stale later value gets overridden', async () => {
    writeFileSync(envFile, 'TOKEN=new-EXAMPLE\nTOKEN=old-EXAMPLE\n')
    const result = await appendGithubEnv(envFile, [{ key: 'TOKEN', secret: 'new-EXAMPLE' }])
    expect(result.appended).toEqual(['TOKEN'])
    expect(finalValues(readFileSync(envFile, 'utf8')).TOKEN).toBe('new-EXAMPLE')
  })

  test('keeps what earlier steps wrote, and fixes a missing final newline', async () => {
    writeFileSync(envFile, 'EARLIER=kept')
    await appendGithubEnv(envFile, [{ key: 'K', secret: 'v' }])
    const content = readFileSync(envFile, 'utf8')
    expect(content.startsWith('EARLIER=kept\nK<<')).toBe(true)
    expect(finalValues(content)).toEqual({ EARLIER: 'kept', K: 'v' })
  })

  test('a value holding delimiter-like text round-trips', async () => {
    const tricky = 'ghadelimiter_00000000-0000-0000-0000-000000000000\nK<<EOF\nEOF\n=\n%0A'
    await appendGithubEnv(envFile, [{ key: 'TRICKY', secret: tricky }])
    const content = readFileSync(envFile, 'utf8')
    expect(finalValues(content)).toEqual({ TRICKY: tricky })
    await appendGithubEnv(envFile, [{ key: 'TRICKY', secret: tricky }])
    expect(readFileSync(envFile, 'utf8')).toBe(content)
  })

  test('a changed value is appended and wins; unchanged keys stay put', async () => {
    await appendGithubEnv(envFile, entries)
    const result = await appendGithubEnv(envFile, [
      { key: 'AWS_PROFILE', secret: 'fake-profile' },
      { key: 'PEM', secret: 'rotated-EXAMPLE' },
    ])
    expect(result).toEqual({ appended: ['PEM'], unchanged: ['AWS_PROFILE'] })
    expect(finalValues(readFileSync(envFile, 'utf8')).PEM).toBe('rotated-EXAMPLE')
  })

  test('CRLF values are stored as the runner would read them, and stay idempotent', async () => {
    await appendGithubEnv(envFile, [{ key: 'CRLF', secret: 'a\r\nb' }])
    const content = readFileSync(envFile, 'utf8')
    expect(finalValues(content).CRLF).toBe('a\nb')
    await appendGithubEnv(envFile, [{ key: 'CRLF', secret: 'a\r\nb' }])
    expect(readFileSync(envFile, 'utf8')).toBe(content)
  })

  test('bad key names are refused before anything is written', async () => {
    for (const key of ['', '1A', 'A=B', 'A<<B', 'A\nB']) {
      await expect(appendGithubEnv(envFile, [{ key, secret: 'v' }])).rejects.toBeInstanceOf(KeyrackUsageError)
    }
    expect(() => statSync(envFile)).toThrow()
  })
})
