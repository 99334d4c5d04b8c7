/**
 * Grades and the never-degrade rule (SPEC §9): protection ranks reference > encrypted > plaintext,
 * duration ranks transient > ephemeral > permanent; a key may be held only where both are at
 * least as strong (a reference may be cached encrypted, e.g. in the daemon's memory).
 */
import { describe, expect, test } from 'bun:test'
import { canHold, DURATIONS, formatGrade, meetsGrade, PROTECTIONS, type Duration, type Grade, type Protection } from '../../src/domain/grade.ts'

const g = (protection: Protection, duration: Duration): Grade => ({ protection, duration })
const all: Grade[] = PROTECTIONS.flatMap((p) => DURATIONS.map((d) => g(p, d)))

describe('ranks', () => {
  test('protection: plaintext < encrypted < reference; duration: permanent < ephemeral < transient', () => {
    expect([...PROTECTIONS]).toEqual(['plaintext', 'encrypted', 'reference'])
    expect([...DURATIONS]).toEqual(['permanent', 'ephemeral', 'transient'])
  })
  test('formatGrade', () => {
    expect(formatGrade(g('encrypted', 'ephemeral'))).toBe('encrypted,ephemeral')
  })
})

describe('canHold (never degrade)', () => {
  test('an encrypted key is never written to plaintext, whatever the duration', () => {
    for (const d of DURATIONS) for (const td of DURATIONS) expect(canHold(g('plaintext', td), g('encrypted', d))).toBe(false)
  })
  test('a reference key is never written to plaintext', () => {
    for (const d of DURATIONS) expect(canHold(g('plaintext', 'transient'), g('reference', d))).toBe(false)
  })
  test('an ephemeral key is never held somewhere permanent', () => {
    for (const p of PROTECTIONS) expect(canHold(g(p, 'permanent'), g('encrypted', 'ephemeral'))).toBe(false)
  })
  test('a transient credential (a passphrase) may be held nowhere but a transient place', () => {
    expect(canHold(g('reference', 'ephemeral'), g('plaintext', 'transient'))).toBe(false)
    expect(canHold(g('encrypted', 'transient'), g('encrypted', 'transient'))).toBe(true)
  })
  test('plaintext → encrypted is an upgrade, allowed', () => {
    expect(canHold(g('encrypted', 'permanent'), g('plaintext', 'permanent'))).toBe(true)
  })
  test('the daemon (encrypted-equivalent memory) may cache a reference grant', () => {
    expect(canHold(g('encrypted', 'ephemeral'), g('reference', 'ephemeral'))).toBe(true)
  })
  test('every grade can be held at its own grade', () => {
    for (const x of all) expect(canHold(x, x)).toBe(true)
  })
  test('the full table matches the rule', () => {
    const pr = (p: Protection) => PROTECTIONS.indexOf(p)
    const dr = (d: Duration) => DURATIONS.indexOf(d)
    for (const target of all)
      for (const source of all) {
        const expected = pr(target.protection) >= Math.min(pr(source.protection), pr('encrypted')) && dr(target.duration) >= dr(source.duration)
        expect([formatGrade(target), formatGrade(source), canHold(target, source)]).toEqual([formatGrade(target), formatGrade(source), expected])
      }
  })
})

describe('meetsGrade (repo manifest minimums)', () => {
  test('an empty requirement accepts anything', () => {
    for (const x of all) expect(meetsGrade(x, {})).toBe(true)
  })
  test('protection minimum', () => {
    expect(meetsGrade(g('plaintext', 'permanent'), { protection: 'encrypted' })).toBe(false)
    expect(meetsGrade(g('encrypted', 'permanent'), { protection: 'encrypted' })).toBe(true)
    expect(meetsGrade(g('reference', 'permanent'), { protection: 'encrypted' })).toBe(true)
  })
  test('duration minimum: a permanent replica does not meet `ephemeral`', () => {
    expect(meetsGrade(g('encrypted', 'permanent'), { duration: 'ephemeral' })).toBe(false)
    expect(meetsGrade(g('reference', 'ephemeral'), { duration: 'ephemeral' })).toBe(true)
    expect(meetsGrade(g('encrypted', 'transient'), { duration: 'ephemeral' })).toBe(true)
  })
  test('both at once', () => {
    expect(meetsGrade(g('encrypted', 'ephemeral'), { protection: 'encrypted', duration: 'ephemeral' })).toBe(true)
    expect(meetsGrade(g('plaintext', 'ephemeral'), { protection: 'encrypted', duration: 'ephemeral' })).toBe(false)
  })
})
