import { describe, expect, test } from 'bun:test'
import { LineDecoder, parseRequest } from '../../../src/daemon/protocol.ts'

const grant = {
  slug: 'ehmpathy.test.XAI_API_KEY',
  key: { secret: 'sk-planted-secret', grade: { protection: 'encrypted', duration: 'permanent' } },
  mech: 'PERMANENT_VIA_REPLICA',
  vault: 'os.secure',
  expiresAt: 1_000_000,
}

describe('parseRequest', () => {
  test('accepts every op', () => {
    for (const frame of [
      { v: 1, id: 1, op: 'ping' },
      { v: 1, id: 'a', op: 'put', grants: [grant] },
      { v: 1, id: 2, op: 'get', slugs: ['a.b.C'] },
      { v: 1, id: 3, op: 'list' },
      { v: 1, id: 4, op: 'relock' },
      { v: 1, id: 5, op: 'relock', slugs: ['a.b.C'] },
      { v: 1, id: 6, op: 'stop' },
    ]) {
      expect(parseRequest(JSON.stringify(frame))).toMatchObject({ ok: true, request: { op: frame.op } })
    }
  })

  test('malformed json, non-objects, wrong version and unknown ops are errors, with the id echoed when valid', () => {
    expect(parseRequest('{nope')).toMatchObject({ ok: false, code: 'malformed', id: null })
    expect(parseRequest('[1]')).toMatchObject({ ok: false, code: 'malformed' })
    expect(parseRequest('{"v":2,"id":7,"op":"ping"}')).toMatchObject({ ok: false, code: 'version', id: 7 })
    expect(parseRequest('{"v":1,"id":8,"op":"dump"}')).toMatchObject({ ok: false, code: 'unknown-op', id: 8 })
    expect(parseRequest('{"v":1,"id":{},"op":"ping"}')).toMatchObject({ ok: false, code: 'invalid', id: null })
  })

  test('schema failures name the field, never the value', () => {
    const bad = { v: 1, id: 9, op: 'put', grants: [{ ...grant, key: { secret: 'sk-planted-secret', grade: { protection: 'sk-planted-secret', duration: 'permanent' } } }] }
    const parsed = parseRequest(JSON.stringify(bad))
    expect(parsed).toMatchObject({ ok: false, code: 'invalid', id: 9 })
    if (parsed.ok) throw new Error('unreachable')
    expect(parsed.message).toBe('invalid put request at grants.0.key.grade.protection')
    expect(parsed.message).not.toContain('planted')
  })

  test('put requires an absolute integer expiresAt and at least one grant', () => {
    expect(parseRequest(JSON.stringify({ v: 1, id: 1, op: 'put', grants: [{ ...grant, expiresAt: undefined }] })).ok).toBe(false)
    expect(parseRequest(JSON.stringify({ v: 1, id: 1, op: 'put', grants: [{ ...grant, expiresAt: 1.5 }] })).ok).toBe(false)
    expect(parseRequest(JSON.stringify({ v: 1, id: 1, op: 'put', grants: [] })).ok).toBe(false)
    expect(parseRequest(JSON.stringify({ v: 1, id: 1, op: 'get', slugs: ['has space'] })).ok).toBe(false)
  })
})

describe('LineDecoder', () => {
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

  test('splits lines across chunks, including a multi-byte character split in two', () => {
    const decoder = new LineDecoder(100)
    const all = bytes('{"a":"é"}\n{"b":1}\n{"c"')
    const cut = 7 // inside the two bytes of é
    expect(decoder.push(all.subarray(0, cut))).toEqual({ lines: [], overflow: false })
    expect(decoder.push(all.subarray(cut))).toEqual({ lines: ['{"a":"é"}', '{"b":1}'], overflow: false })
    expect(decoder.push(bytes(':2}\n'))).toEqual({ lines: ['{"c":2}'], overflow: false })
  })

  test('overflows on a frame longer than the limit, whether or not its newline has arrived', () => {
    expect(new LineDecoder(10).push(bytes('12345678901'))).toEqual({ lines: [], overflow: true })
    expect(new LineDecoder(10).push(bytes('ok\n12345678901\n'))).toEqual({ lines: ['ok'], overflow: true })
    const decoder = new LineDecoder(10)
    expect(decoder.push(bytes('123456')).overflow).toBe(false)
    expect(decoder.push(bytes('789012')).overflow).toBe(true)
    expect(new LineDecoder(10).push(bytes('1234567890\n'))).toEqual({ lines: ['1234567890'], overflow: false })
  })
})
