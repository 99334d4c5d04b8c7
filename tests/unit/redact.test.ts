/**
 * The streaming redactor (src/redact): every form of every secret is replaced, whatever the read
 * boundaries. Property tests cut random streams into random chunks and compare with a plain
 * reference (indexOf over the whole text); fixed cases pin the encodings programs really print.
 */
import { describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { base64Core, formsOf, MIN_CORE_CHARS } from '../../src/redact/forms.ts'
import { MIN_SECRET_BYTES, Redactor, type RedactTarget } from '../../src/redact/redactor.ts'

const utf8 = new TextEncoder()
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** a seeded PRNG (mulberry32): failures print their seed and replay exactly */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** pushes `input` through a stream cut at the given sizes (cycled), returns the output text */
function streamed(redactor: Redactor, input: Uint8Array, sizes: number[]): string {
  const stream = redactor.stream()
  const out: Uint8Array[] = []
  let offset = 0
  for (let i = 0; offset < input.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!)
    out.push(stream.push(input.subarray(offset, offset + size)))
    offset += size
  }
  out.push(stream.end())
  return decode(Buffer.concat(out))
}

/**
 * The reference: every occurrence of every form in the whole text by indexOf, overlapping ones
 * merged (names of matches not wholly inside earlier ones, in order). No streaming, no skipping.
 */
function reference(targets: RedactTarget[], text: string): string {
  const input = Buffer.from(text)
  const matches: [number, number, string][] = []
  for (const { key, secret } of targets) {
    if (utf8.encode(secret).length < MIN_SECRET_BYTES) continue
    for (const form of formsOf(secret))
      for (let at = input.indexOf(form.bytes); at !== -1; at = input.indexOf(form.bytes, at + 1)) matches.push([at, at + form.bytes.length, key])
  }
  matches.sort((a, b) => a[0] - b[0] || b[1] - a[1])
  const regions: { start: number; end: number; keys: string[] }[] = []
  for (const [start, end, key] of matches) {
    const last = regions[regions.length - 1]
    if (last && start < last.end) {
      if (end > last.end) {
        last.end = end
        if (!last.keys.includes(key)) last.keys.push(key)
      }
    } else regions.push({ start, end, keys: [key] })
  }
  const out: Buffer[] = []
  let cursor = 0
  for (const region of regions) {
    out.push(input.subarray(cursor, region.start), Buffer.from(region.keys.map((k) => `[keyrack:${k}]`).join('')))
    cursor = region.end
  }
  out.push(input.subarray(cursor))
  return Buffer.concat(out).toString()
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_-%"\\ \n:'
const randomText = (rand: () => number, length: number) => Array.from({ length }, () => ALPHABET[Math.floor(rand() * ALPHABET.length)]).join('')

describe('forms of a secret', () => {
  const secret = 'sk-live/4f9a+8b7c"6d5e<é>'
  const forms = new Map(formsOf(secret).map((f) => [f.kind, decode(f.bytes)]))

  test('raw first, then the encodings programs print', () => {
    const texts = formsOf(secret).map((f) => decode(f.bytes))
    expect(formsOf(secret)[0]!.kind).toBe('raw')
    expect(texts[0]).toBe(secret)
    // a form equal to an earlier one is listed once, under the earlier kind
    for (const encoded of [
      Buffer.from(secret).toString('base64'),
      Buffer.from(secret).toString('base64url'),
      Buffer.from(secret).toString('hex'),
      Buffer.from(secret).toString('hex').toUpperCase(),
      encodeURIComponent(secret),
      new URLSearchParams({ k: secret }).toString().slice(2),
      JSON.stringify(secret).slice(1, -1),
    ])
      expect(texts).toContain(encoded)
  })

  test("JSON as Python (ensure_ascii), Go (HTML-safe) and PHP (\\/) write it", () => {
    // python3 -c 'import json; print(json.dumps("…"))' writes \u00e9; Go writes \u003c; PHP writes \/
    expect(forms.get('json-ascii')).toContain('\\u00e9')
    expect(forms.get('json-html')).toContain('\\u003c')
    expect(forms.get('json-slash')).toContain('\\/')
  })

  test('no duplicates; a plain alphanumeric secret has few forms', () => {
    const texts = formsOf(secret).map((f) => decode(f.bytes))
    expect(new Set(texts).size).toBe(texts.length)
    const plain = formsOf('abcdefghijklmnop').map((f) => f.kind)
    expect(plain).not.toContain('json') // the same bytes as raw
    expect(plain).not.toContain('percent')
  })

  test('a base64 core is the part of an embedded encoding that depends on the secret alone', () => {
    const raw = utf8.encode('correct-horse-battery')
    for (let offset = 0; offset < 3; offset++)
      for (const prefix of ['', 'a', 'ab', 'abc', 'user:', 'Authorization: ']) {
        if (prefix.length % 3 !== offset) continue
        for (const suffix of ['', 'x', 'xy', '\n'])
          expect(Buffer.from(prefix + 'correct-horse-battery' + suffix).toString('base64')).toContain(base64Core(raw, offset))
      }
    // cores shorter than MIN_CORE_CHARS are not forms (too likely in ordinary output)
    expect(formsOf('abcde').some((f) => f.kind.startsWith('base64-core') && f.bytes.length < MIN_CORE_CHARS)).toBe(false)
  })
})

describe('redactor', () => {
  const secret = 'sk-live-4f9a8b7c6d5e3f2a'
  const redactor = new Redactor([{ key: 'API_KEY', secret }])

  test('each form is replaced with [keyrack:KEY]', () => {
    const cases = [
      `token=${secret}`,
      `echo ${Buffer.from(secret).toString('base64')} | base64 -d`,
      `${Buffer.from(secret).toString('base64url')}`,
      `hex ${Buffer.from(secret).toString('hex')} HEX ${Buffer.from(secret).toString('hex').toUpperCase()}`,
      `url ?key=${encodeURIComponent(secret)}`,
      JSON.stringify({ token: secret }),
    ]
    for (const text of cases) {
      const out = redactor.redactText(text)
      expect(out).toContain('[keyrack:API_KEY]')
      for (const form of formsOf(secret)) expect(out).not.toContain(decode(form.bytes))
    }
  })

  test('a secret inside a larger base64 blob is found at every alignment', () => {
    for (const prefix of ['', 'u', 'us', 'user:', 'Authorization: Bearer ', 'KEY=']) {
      const blob = Buffer.from(`${prefix}${secret}\n`).toString('base64')
      const out = redactor.redactText(`Basic ${blob}`)
      expect(out).toContain('[keyrack:API_KEY]')
      expect(out).not.toContain(base64Core(utf8.encode(secret), prefix.length % 3))
    }
  })

  test('the whole standalone encoding goes, padding included', () => {
    expect(redactor.redactText(Buffer.from(secret).toString('base64'))).toBe('[keyrack:API_KEY]')
  })

  test('other text is untouched, byte for byte (binary included)', () => {
    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff)
    const stream = redactor.stream()
    const out = Buffer.concat([stream.push(bytes), stream.end()])
    expect(Buffer.compare(out, Buffer.from(bytes))).toBe(0)
  })

  test('overlapping secrets become one region; a secret inside another names the outer one', () => {
    const r = new Redactor([
      { key: 'OUTER', secret: 'xx-inner-secret-xx' },
      { key: 'INNER', secret: 'inner-secret' },
      { key: 'LEFT', secret: 'abcdefgh' },
      { key: 'RIGHT', secret: 'efghijkl' },
    ])
    expect(r.redactText('a xx-inner-secret-xx b')).toBe('a [keyrack:OUTER] b')
    expect(r.redactText('a inner-secret b')).toBe('a [keyrack:INNER] b')
    expect(r.redactText('[abcdefghijkl]')).toBe('[[keyrack:LEFT][keyrack:RIGHT]]')
  })

  test(`secrets shorter than ${MIN_SECRET_BYTES} bytes are skipped and named`, () => {
    const r = new Redactor([{ key: 'TINY', secret: 'abc' }, { key: 'EMPTY', secret: '' }, { key: 'OK', secret: 'abcd' }])
    expect(r.skipped).toEqual(['TINY'])
    expect(r.redactText('abc abcd')).toBe('abc [keyrack:OK]')
    expect(new Redactor([{ key: 'TINY', secret: '1' }]).empty).toBe(true)
  })

  test('output that is not yet final is held back only while it could begin a form', () => {
    const stream = redactor.stream()
    expect(decode(stream.push(utf8.encode('hello world\n')))).toBe('hello world\n')
    // "sk-li" could begin the secret: held
    expect(decode(stream.push(utf8.encode('prompt> sk-li')))).toBe('prompt> ')
    expect(decode(stream.push(utf8.encode('ve-4f9a8b7c6d5e3f2a done')))).toBe('[keyrack:API_KEY] done')
    expect(decode(stream.push(utf8.encode(' sk-')))).toBe(' ')
    expect(decode(stream.end())).toBe('sk-') // at the end, a prefix alone is just text
  })

  test('a secret split one byte per read is still found', () => {
    const text = `before ${secret} middle ${Buffer.from(secret).toString('hex')} after`
    expect(streamed(redactor, utf8.encode(text), [1])).toBe('before [keyrack:API_KEY] middle [keyrack:API_KEY] after')
  })

  test('long secrets (a PEM key) and their encodings, across many reads', () => {
    const pem = `-----BEGIN PRIVATE KEY-----\n${createHash('sha512').update('k').digest('base64').repeat(20)}\n-----END PRIVATE KEY-----\n`
    const r = new Redactor([{ key: 'TLS_KEY', secret: pem }])
    const text = `a ${pem} b ${JSON.stringify(pem)} c ${Buffer.from(pem).toString('base64')} d`
    expect(streamed(r, utf8.encode(text), [7, 300, 1, 4096])).toBe('a [keyrack:TLS_KEY] b "[keyrack:TLS_KEY]" c [keyrack:TLS_KEY] d')
  })

  test('property: any chunking gives the reference result (random secrets, text and cuts)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed)
      const targets: RedactTarget[] = Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, i) => ({
        key: `K${i}`,
        // short and long secrets (short ones go to the native search, long ones to the skipping one)
        secret: randomText(rand, 2 + Math.floor(rand() * (rand() < 0.5 ? 14 : 60))),
      }))
      const r = new Redactor(targets)
      // text with secrets, their encodings, and their fragments planted at random
      const parts: string[] = []
      for (let i = 0; i < 12; i++) {
        parts.push(randomText(rand, Math.floor(rand() * 40)))
        const { secret } = targets[Math.floor(rand() * targets.length)]!
        const form = formsOf(secret)[Math.floor(rand() * formsOf(secret).length)]!
        const pick = rand()
        parts.push(pick < 0.6 ? decode(form.bytes) : pick < 0.8 ? secret.slice(0, Math.floor(rand() * secret.length)) : secret + secret.slice(0, 3))
      }
      const text = parts.join('')
      const expected = reference(targets, text)
      const sizes = Array.from({ length: 8 }, () => 1 + Math.floor(rand() * (rand() < 0.5 ? 5 : 200)))
      const got = streamed(r, utf8.encode(text), sizes)
      if (got !== expected) throw new Error(`seed ${seed}: streamed output differs from the reference`)
      for (const { secret } of targets) if (utf8.encode(secret).length >= MIN_SECRET_BYTES) expect(got.includes(secret) && !expected.includes(secret)).toBe(false)
    }
  })

  test('property: no form of a long-enough secret survives any chunking', () => {
    for (let seed = 1000; seed < 1100; seed++) {
      const rand = prng(seed)
      const secret = randomText(rand, 8 + Math.floor(rand() * 50)).replaceAll('[', '(')
      const r = new Redactor([{ key: 'S', secret }])
      const forms = formsOf(secret).map((f) => decode(f.bytes))
      const text = forms.map((f) => randomText(rand, Math.floor(rand() * 20)) + f).join('') + randomText(rand, 5)
      const got = streamed(r, utf8.encode(text), [1 + Math.floor(rand() * 9), 1 + Math.floor(rand() * 300)])
      for (const form of forms) if (got.includes(form)) throw new Error(`seed ${seed}: a ${formsOf(secret).find((f) => decode(f.bytes) === form)!.kind} form survived`)
    }
  })
})
