/**
 * Atomic, locked writes (SPEC §4): concurrent `set`s of different keys, in both vaults, all
 * survive; no temp file or lock is left behind; the files keep their private modes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureBinary, modeOf, Sandbox } from '../helpers/harness.ts'

beforeAll(ensureBinary, 120_000)

const N = 20
const keys = Array.from({ length: N }, (_, i) => `KEY_${String(i).padStart(2, '0')}`)

describe('20 concurrent sets', () => {
  const sb = new Sandbox('kr-concurrent')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(`org: acme\nenv.test:\n${keys.map((k) => `  - ${k}\n`).join('')}`)
  })

  test('of different keys (half os.secure, half os.direct) all survive in list and get', async () => {
    const runs = keys.map((key, i) =>
      sb.spawn(['set', '--key', key, '--env', 'test', '--vault', i % 2 ? 'os.direct' : 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], {
        input: `secret-of-${key}`,
        timeoutMs: 40_000,
      }).done,
    )
    const results = await Promise.all(runs)
    expect(results.map((r) => r.code)).toEqual(keys.map(() => 0))

    const list = sb.run(['list', '--json'])
    expect(list.code).toBe(0)
    const slugs = (JSON.parse(list.stdout).keys as { slug: string }[]).map((k) => k.slug).sort()
    expect(slugs).toEqual(keys.map((k) => `acme.test.${k}`))

    const direct = JSON.parse(readFileSync(join(sb.keyrackHome, 'direct.human.json'), 'utf8'))
    expect(Object.keys(direct).sort()).toEqual(keys.filter((_, i) => i % 2).map((k) => `acme.test.${k}`))
    expect(readdirSync(join(sb.keyrackHome, 'secure', 'human'))).toHaveLength(N / 2)

    const get = sb.run(['get', '--for', 'repo', '--env', 'test', '--output', 'json'])
    expect(get.code).toBe(0)
    const got = Object.fromEntries((JSON.parse(get.stdout).keys as { key: string; secret: string }[]).map((k) => [k.key, k.secret]))
    expect(got).toEqual(Object.fromEntries(keys.map((k) => [k, `secret-of-${k}`])))
  }, 60_000)

  test('leave no temp file and no lock, and every file private', () => {
    const files = sb.files(sb.keyrackHome)
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([])
    expect(existsSync(join(sb.keyrackHome, '.lock.human'))).toBe(false)
    for (const f of files) expect({ f, mode: modeOf(f) }).toEqual({ f, mode: 0o600 })
  })

  test('concurrent re-sets and deletes of other keys do not lose a key', async () => {
    const runs = [
      ...keys.slice(0, 5).map((k) => sb.spawn(['del', '--key', k, '--env', 'test']).done),
      ...keys.slice(5, 10).map((k) => sb.spawn(['set', '--key', k, '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin'], { input: `again-${k}` }).done),
    ]
    // an odd key moved from os.direct → os.secure above; the rest stay untouched
    const results = await Promise.all(runs)
    expect(results.map((r) => r.code)).toEqual(runs.map(() => 0))
    const slugs = (JSON.parse(sb.run(['list', '--json']).stdout).keys as { slug: string }[]).map((k) => k.slug).sort()
    expect(slugs).toEqual(keys.slice(5).map((k) => `acme.test.${k}`))
    const direct = JSON.parse(readFileSync(join(sb.keyrackHome, 'direct.human.json'), 'utf8'))
    expect(Object.keys(direct).sort()).toEqual(keys.filter((_, i) => i % 2 && i >= 10).map((k) => `acme.test.${k}`))
  }, 60_000)
})
