/**
 * Table-driven tests for the firewall (SPEC §12): every rule is proven against the fakes in
 * tests/vectors/firewall.json, and the table's own invariants are checked so a new rule cannot
 * be added without examples.
 */
import { describe, expect, test } from 'bun:test'
import { blockedAdvice, checkCredential, describeFinding, inspectSecret, searchPattern, withArticle, type Inspection } from '../../src/domain/firewall/check.ts'
import { FIREWALL_RULES, type FirewallRule } from '../../src/domain/firewall/rules.ts'
import vectorsJson from '../vectors/firewall.json'

interface RuleVectors {
  matches: string[]
  nearMisses: string[]
}
interface Bypass {
  what: string
  value: string
  rule: string
  /** the decoders that reveal it, outermost first; absent: found in the value as it is */
  via?: string[]
}
interface FirewallVectors {
  rules: Record<string, RuleVectors>
  unknown: string[]
  bypasses: Bypass[]
  pass: string[]
}
const vectors: FirewallVectors = vectorsJson as FirewallVectors

function vectorsFor(rule: FirewallRule): RuleVectors {
  const found = vectors.rules[rule.id]
  if (found === undefined) throw new Error(`no vectors for rule ${rule.id}`)
  return found
}

const expectedVerdict = (rule: FirewallRule): string =>
  rule.lifetime === 'short' ? 'short-lived' : rule.shortLivedMech === null ? 'labelled' : 'blocked'

/** a printable label for a test name: never the whole fake, just enough to tell them apart */
const label = (value: string): string => JSON.stringify(value.length > 24 ? `${value.slice(0, 20)}…(${value.length})` : value)

describe('firewall rules table', () => {
  test('rule ids are unique', () => {
    const ids = FIREWALL_RULES.map((r) => r.id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  test('every rule has vectors and every vector set names a rule', () => {
    expect(Object.keys(vectors.rules).sort()).toEqual(FIREWALL_RULES.map((r) => r.id).sort())
  })

  for (const rule of FIREWALL_RULES) {
    test(`${rule.id}: at least 2 matches and 2 near misses`, () => {
      const v = vectorsFor(rule)
      expect(v.matches.length).toBeGreaterThanOrEqual(2)
      expect(v.nearMisses.length).toBeGreaterThanOrEqual(2)
    })

    test(`${rule.id}: pattern is anchored and stateless`, () => {
      expect(rule.pattern.source.startsWith('^')).toBe(true)
      expect(rule.pattern.source.endsWith('$')).toBe(true)
      // `g`/`y` would make .test() stateful; `m` would let one line of a value match; `i` would
      // accept lowercase shapes that providers never issue
      expect(rule.pattern.flags).toBe('')
    })

    test(`${rule.id}: every match holds one of its keywords (the prefilter never hides a match)`, () => {
      expect(rule.keywords.length).toBeGreaterThan(0)
      for (const value of vectorsFor(rule).matches) expect(rule.keywords.some((k) => value.includes(k))).toBe(true)
    })

    test(`${rule.id}: lifetime and mech are consistent`, () => {
      if (rule.lifetime === 'short') expect(rule.shortLivedMech).toBeNull()
      expect(rule.advice.length).toBeGreaterThan(0)
      // a blocked rule tells ci users what to do instead; only mech-bearing rules rename keys
      if (rule.shortLivedMech !== null) expect(rule.ciAdvice?.length ?? 0).toBeGreaterThan(0)
      else expect(rule.grantsKey).toBeUndefined()
    })
  }

  test('the short-lived alternatives named by the spec are blocked', () => {
    const blocked = FIREWALL_RULES.filter((r) => r.lifetime === 'long' && r.shortLivedMech !== null)
    expect(blocked.length).toBeGreaterThan(0)
    for (const rule of blocked) {
      expect(['EPHEMERAL_VIA_AWS_SSO', 'EPHEMERAL_VIA_GITHUB_APP']).toContain(rule.shortLivedMech ?? '')
    }
  })
})

describe('checkCredential', () => {
  for (const rule of FIREWALL_RULES) {
    const v = vectorsFor(rule)
    for (const value of v.matches) {
      test(`${rule.id} matches ${label(value)}`, () => {
        const verdict = checkCredential(value)
        expect(verdict.verdict).toBe(expectedVerdict(rule) as typeof verdict.verdict)
        if (verdict.verdict === 'unknown') throw new Error('unreachable')
        expect(verdict.rule.id).toBe(rule.id)
      })
    }
    for (const value of v.nearMisses) {
      test(`${rule.id} rejects near miss ${label(value)}`, () => {
        expect(rule.pattern.test(value.trim())).toBe(false)
        expect(rule.pattern.test(value.replace(/^[\s\p{Cc}\p{Cf}]+|[\s\p{Cc}\p{Cf}]+$/gu, ''))).toBe(false)
        const verdict = checkCredential(value)
        // another rule may legitimately claim it (e.g. a ghs_ token is a near miss for ghp_)
        if (verdict.verdict !== 'unknown') expect(verdict.rule.id).not.toBe(rule.id)
      })
    }
  }

  for (const value of vectors.unknown) {
    test(`unknown: ${label(value)}`, () => {
      expect(checkCredential(value)).toEqual({ verdict: 'unknown' })
    })
  }

  test('the spec examples land on the spec verdicts', () => {
    expect(checkCredential('AKIAIOSFODNN7EXAMPLE').verdict).toBe('blocked')
    expect(checkCredential('ASIAIOSFODNN7EXAMPLE').verdict).toBe('short-lived')
    expect(checkCredential(`ghp_${'x'.repeat(29)}EXAMPLE`).verdict).toBe('blocked')
    expect(checkCredential(`ghs_${'x'.repeat(29)}EXAMPLE`).verdict).toBe('short-lived')
    expect(checkCredential(`xai-${'x'.repeat(73)}EXAMPLE`).verdict).toBe('labelled')
  })

  test('a custom table can be passed (rules are data)', () => {
    const only = FIREWALL_RULES.filter((r) => r.id === 'aws-sts-access-key-id')
    expect(checkCredential('AKIAIOSFODNN7EXAMPLE', only)).toEqual({ verdict: 'unknown' })
  })
})

describe('inspectSecret (the firewall looks inside values)', () => {
  test('every whole-value match keeps its verdict and is not embedded', () => {
    for (const rule of FIREWALL_RULES)
      for (const value of vectorsFor(rule).matches) {
        const inspection = inspectSecret(value)
        expect(inspection.verdict).toBe(expectedVerdict(rule) as typeof inspection.verdict)
        expect(inspection.embedded).toBe(false)
      }
  })

  const embedded: [string, string, string][] = [
    ['a KEY=value line', 'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE', 'aws-access-key-id'],
    ['an export line', "export AWS_ACCESS_KEY_ID='AKIAIOSFODNN7EXAMPLE'", 'aws-access-key-id'],
    ['an aws credentials file', '[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n', 'aws-access-key-id'],
    ['a .env blob', `A=1\nGITHUB_TOKEN=ghp_${'x'.repeat(29)}EXAMPLE\nB=2`, 'github-classic-pat'],
    ['a json document', `{"token": "ghp_${'x'.repeat(29)}EXAMPLE"}`, 'github-classic-pat'],
    ['a url with a token', `https://ghp_${'x'.repeat(29)}EXAMPLE@github.com/acme/repo.git`, 'github-classic-pat'],
  ]
  for (const [what, value, id] of embedded)
    test(`blocks a credential inside ${what}`, () => {
      const inspection = inspectSecret(value)
      expect(inspection.verdict).toBe('blocked')
      expect(inspection.embedded).toBe(true)
      if (inspection.verdict !== 'unknown') expect(inspection.rule.id).toBe(id)
    })

  test('the worst verdict inside a value wins', () => {
    const value = `AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE\nXAI_API_KEY=xai-${'x'.repeat(73)}EXAMPLE\nOLD=AKIAIOSFODNN7EXAMPLE`
    expect(inspectSecret(value).verdict).toBe('blocked')
    expect(inspectSecret(value.split('\n').slice(0, 2).join('\n')).verdict).toBe('labelled')
    expect(inspectSecret('AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE').verdict).toBe('short-lived')
  })

  test('a shape inside a longer word is not a match', () => {
    for (const value of ['XAKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLEX', 'prefix_AKIAIOSFODNN7EXAMPLE', 'hello world', ''])
      expect(inspectSecret(value)).toEqual({ verdict: 'unknown', embedded: false, via: [] })
  })

  test('unknown vectors stay unknown', () => {
    for (const value of vectors.unknown) expect(inspectSecret(value).verdict).toBe('unknown')
  })

  // every rule's shape is found inside punctuation, quotes, KEY=, URLs, JSON: the in-value search
  // is derived from the rule's own pattern, so this holds for each match of each rule
  const wrappers: [string, (v: string) => string][] = [
    ['KEY=…', (v) => `SOME_KEY=${v}`],
    ['quotes', (v) => `"${v}"`],
    ['parentheses and a period', (v) => `(${v}).`],
    ['json', (v) => JSON.stringify({ nested: { secret: v } })],
    ['a url query', (v) => `https://example.com/?t=${v}&x=1`],
    ['a second line', (v) => `first line\n${v}\n`],
  ]
  for (const rule of FIREWALL_RULES)
    for (const [what, wrap] of wrappers)
      test(`${rule.id}: found inside ${what}`, () => {
        for (const value of vectorsFor(rule).matches) {
          const inspection = inspectSecret(wrap(value.trim()))
          expect(inspection.verdict).toBe(expectedVerdict(rule) as typeof inspection.verdict)
          if (inspection.verdict !== 'unknown') expect(inspection.rule.id).toBe(rule.id)
          expect(inspection.embedded).toBe(true)
        }
      })
})

describe('the firewall normalises before it matches (tests/vectors/firewall.json bypasses)', () => {
  const ruleById = (id: string): FirewallRule => {
    const found = FIREWALL_RULES.find((r) => r.id === id)
    if (found === undefined) throw new Error(`no rule ${id}`)
    return found
  }

  test('there are bypass vectors for every class the issue names', () => {
    const whats = vectors.bypasses.map((b) => b.what).join('\n')
    for (const word of ['NUL', 'zero-width', 'KEY=value', 'JSON', 'URL', 'parentheses', 'base64', 'percent', '\\u', 'hex', 'longer'])
      expect(whats).toContain(word)
  })

  for (const bypass of vectors.bypasses)
    test(`caught: ${bypass.what}`, () => {
      const rule = ruleById(bypass.rule)
      // before: the whole-value check alone missed every one of these
      if (bypass.via) expect(checkCredential(bypass.value).verdict).toBe('unknown')
      const inspection = inspectSecret(bypass.value)
      expect(inspection.verdict).toBe(expectedVerdict(rule) as typeof inspection.verdict)
      if (inspection.verdict === 'unknown') throw new Error('unreachable')
      expect(inspection.rule.id).toBe(bypass.rule)
      expect(inspection.via).toEqual((bypass.via ?? []) as Inspection['via'])
    })

  for (const value of vectors.pass)
    test(`passes: ${label(value)}`, () => {
      expect(['unknown', 'short-lived']).toContain(inspectSecret(value).verdict)
    })

  // random passwords, as generators make them: none may look like a long-lived credential in any
  // view (a seeded generator, so a failure reproduces)
  test('10,000 random base64, hex and printable passwords pass', () => {
    let seed = 0x5eed
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed / 0x80000000
    }
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256))
    const printable = (n: number) => String.fromCharCode(...Array.from({ length: n }, () => 33 + Math.floor(random() * 94)))
    for (let i = 0; i < 10_000; i++) {
      const n = 12 + (i % 53)
      const raw = bytes(n)
      const password = [btoa(String.fromCharCode(...raw)), Buffer.from(raw).toString('hex'), Buffer.from(raw).toString('base64url'), printable(n)][i % 4]!
      const verdict = inspectSecret(password).verdict
      if (verdict !== 'unknown') throw new Error(`random password ${i} was ${verdict}`)
    }
  })

  test('decoding is bounded: nesting deeper than three encodings is not unwrapped', () => {
    let value = 'AKIAIOSFODNN7EXAMPLE'
    for (let depth = 1; depth <= 5; depth++) {
      value = btoa(value)
      expect(inspectSecret(value).verdict).toBe(depth <= 3 ? 'blocked' : 'unknown')
    }
  })

  test('a large value is inspected, not skipped', () => {
    const filler = 'lorem ipsum dolor sit amet '.repeat(40_000)
    expect(inspectSecret(`${filler}AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n${filler}`).verdict).toBe('blocked')
  })

  test('the in-value search is derived from the rule, word-bounded', () => {
    const rule = ruleById('aws-access-key-id')
    expect(searchPattern(rule).source).toBe('(?<![A-Za-z0-9_])(?:AKIA[0-9A-Z]{16})(?![A-Za-z0-9_])')
    expect(searchPattern(rule)).toBe(searchPattern(rule))
  })
})

describe('describeFinding (what messages call it, never the secret)', () => {
  const found = (value: string) => {
    const inspection = inspectSecret(value)
    if (inspection.verdict === 'unknown') throw new Error('expected a finding')
    return describeFinding(inspection)
  }
  test('whole, inside, and decoded', () => {
    expect(found('AKIAIOSFODNN7EXAMPLE')).toBe('an aws access key id of an iam user (AKIA…), long-lived')
    expect(found(' AKIAIOSFODNN7EXAMPLE\u0000')).toBe('an aws access key id of an iam user (AKIA…), long-lived')
    expect(found('X=AKIAIOSFODNN7EXAMPLE')).toBe('a value containing an aws access key id of an iam user (AKIA…), long-lived')
    expect(found('AKIA\u200bIOSFODNN7EXAMPLE')).toBe('a value containing an aws access key id of an iam user (AKIA…), long-lived')
    expect(found(btoa('X=AKIAIOSFODNN7EXAMPLE'))).toBe('a base64-encoded value containing an aws access key id of an iam user (AKIA…), long-lived')
    expect(found('\\u0041KIAIOSFODNN7EXAMPLE')).toBe('an escaped value containing an aws access key id of an iam user (AKIA…), long-lived')
    expect(found(btoa('%41KIAIOSFODNN7EXAMPLE'))).toBe('a base64-encoded percent-encoded value containing an aws access key id of an iam user (AKIA…), long-lived')
  })
})

describe('withArticle', () => {
  test('reads as english', () => {
    expect(withArticle('aws access key id')).toBe('an aws access key id')
    expect(withArticle('github classic personal access token')).toBe('a github classic personal access token')
    expect(withArticle('xai api key')).toBe('an xai api key')
    expect(withArticle('1password service account token')).toBe('a 1password service account token')
  })
})

describe('blockedAdvice', () => {
  const rule = (id: string): FirewallRule => {
    const found = FIREWALL_RULES.find((r) => r.id === id)
    if (found === undefined) throw new Error(`no rule ${id}`)
    return found
  }

  test('aws: the exact sso replacement command', () => {
    const lines = blockedAdvice(rule('aws-access-key-id'), { key: 'AWS_PROFILE', env: 'test' })
    expect(lines).toContain(
      'replace it with: keyrack set --key AWS_PROFILE --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO',
    )
  })

  test('aws: a user holding AWS_ACCESS_KEY_ID is told to set AWS_PROFILE, and to change the allowlist', () => {
    const lines = blockedAdvice(rule('aws-access-key-id'), { key: 'AWS_ACCESS_KEY_ID', env: 'test' })
    expect(lines[0]).toStartWith('AWS_ACCESS_KEY_ID holds an aws access key id')
    expect(lines).toContain(
      'replace it with: keyrack set --key AWS_PROFILE --env test --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO',
    )
    expect(lines.at(-2)).toBe(
      'EPHEMERAL_VIA_AWS_SSO grants AWS_PROFILE, not AWS_ACCESS_KEY_ID: in .agent/keyrack.yml, list `- key: AWS_PROFILE` with `mech: EPHEMERAL_VIA_AWS_SSO` under env.test in place of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    )
    // tools that need the access key itself: the profile's role credentials, on request
    expect(lines.at(-1)).toContain('add `with-credentials: true` to that entry')
  })

  test('github: the exact app replacement command, with the key name given', () => {
    const lines = blockedAdvice(rule('github-classic-pat'), { key: 'GITHUB_TOKEN', env: 'test' })
    expect(lines).toContain(
      'replace it with: keyrack set --key GITHUB_TOKEN --env test --vault os.secure --mech EPHEMERAL_VIA_GITHUB_APP',
    )
  })

  test('owner is passed through when given', () => {
    const lines = blockedAdvice(rule('github-oauth-token'), { key: 'GH_TOKEN', env: 'prod', owner: 'seaturtle' })
    expect(lines.at(-1)).toBe(
      'replace it with: keyrack set --key GH_TOKEN --env prod --vault os.secure --mech EPHEMERAL_VIA_GITHUB_APP --owner seaturtle',
    )
  })

  test('org when given, and no --owner for the default owner', () => {
    const lines = blockedAdvice(rule('aws-access-key-id'), { key: 'AWS_ACCESS_KEY_ID', env: 'prep', org: '@all', owner: 'human' })
    expect(lines).toContain('replace it with: keyrack set --key AWS_PROFILE --env prep --org @all --vault aws.config --mech EPHEMERAL_VIA_AWS_SSO')
    const robot = blockedAdvice(rule('github-fine-grained-pat'), { key: 'GH_TOKEN', env: 'test', org: 'acme', owner: 'mechanic' })
    expect(robot.at(-1)).toBe('replace it with: keyrack set --key GH_TOKEN --env test --org acme --vault os.secure --mech EPHEMERAL_VIA_GITHUB_APP --owner mechanic')
  })

  test('a rule with no short-lived mech gets no replacement command', () => {
    const lines = blockedAdvice(rule('xai-api-key'), { key: 'XAI_API_KEY', env: 'test' })
    expect(lines.join('\n')).not.toContain('keyrack set')
  })

  // the secret must never reach a message: not whole, and not any 8-character run past the
  // public prefix (the longest prefix, AGE-SECRET-KEY-1, is 16 characters)
  for (const r of FIREWALL_RULES) {
    for (const value of vectorsFor(r).matches) {
      test(`${r.id}: advice never contains the secret ${label(value)}`, () => {
        const secret = value.trim()
        const text = [...blockedAdvice(r, { key: 'SOME_KEY', env: 'test', owner: 'human' }), r.description, r.advice].join('\n')
        expect(text).not.toContain(secret)
        for (let i = 16; i + 8 <= secret.length; i++) expect(text).not.toContain(secret.slice(i, i + 8))
      })
    }
  }
})
