/**
 * `.ci/run`, the CI entry point, against a fake `npm` that prints a chosen bun test log and chosen
 * TAP for the Node and Deno portable runs (and fake `apt-get`/`id`): its last line carries the real
 * pass/fail/skip counts of all three, and it fails for a failed test, for a run in which no test
 * ran, and for a security suite skipped where it had to run.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/harness.ts'

const dir = mkdtempSync(join(tmpdir(), 'keyrack-ci-run-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
mkdirSync(join(dir, '.ci'))
copyFileSync(join(ROOT, '.ci', 'run'), join(dir, '.ci', 'run'))
const bin = join(dir, 'bin')
mkdirSync(bin)
const tool = (name: string, body: string) => {
  writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`)
  chmodSync(join(bin, name), 0o755)
}
tool('apt-get', 'exit 0')
tool('sudo', 'exec "$@"')
tool('id', '[ "$1" = -u ] && { echo "$FAKE_UID"; exit 0; }; exec /usr/bin/id "$@"')
tool('npm', [
  'case "$1 $2" in',
  '  "test "*) cat "$FAKE_LOG"; exit "$FAKE_STATUS" ;;',
  '  "run test:node"|"run test:deno") printf "%s" "$FAKE_TAP"; exit 0 ;;',
  'esac',
  'exit 0',
].join('\n'))

/** one portable run's TAP: one passing test unless told otherwise */
const TAP_ONE_PASS = 'TAP version 13\n# Subtest: sdk\n    ok 1 - works\n    1..1\nok 1 - sdk\n'

interface CiRun {
  code: number
  lastLine: string
  stderr: string
}

function ciRun(log: string, { status = 0, uid = 0, ci = true, tap = TAP_ONE_PASS }: { status?: number; uid?: number; ci?: boolean; tap?: string } = {}): CiRun {
  const file = join(dir, `log-${Math.random().toString(36).slice(2)}`)
  writeFileSync(file, log)
  const r = spawnSync('bash', [join(dir, '.ci', 'run')], {
    env: { PATH: `${bin}:${process.env.PATH}`, FAKE_LOG: file, FAKE_STATUS: String(status), FAKE_UID: String(uid), FAKE_TAP: tap, ...(ci ? { CI: 'true' } : {}) },
    encoding: 'utf8',
  })
  const lines = r.stdout.trimEnd().split('\n')
  return { code: r.status ?? 1, lastLine: lines.at(-1) ?? '', stderr: r.stderr }
}

const summary = (counts: Record<string, number>) =>
  `${Object.entries(counts).map(([what, n]) => ` ${n} ${what}`).join('\n')}\nRan 1 tests across 1 files. [1.00s]\n`

describe('.ci/run', () => {
  test('a green run: the last line is "N passed, N failed, N skipped", exit 0', () => {
    const r = ciRun(`(pass) a\n${summary({ pass: 12, fail: 0 })}`)
    expect(r.lastLine).toBe('14 passed, 0 failed, 0 skipped')
    expect(r.code).toBe(0)
  })

  test('skip and todo counts are counted as skipped (colour codes stripped)', () => {
    const r = ciRun(`\x1b[32m 8 pass\x1b[0m\n 2 skip\n 1 todo\n\x1b[31m 0 fail\x1b[0m\n`)
    expect(r.lastLine).toBe('10 passed, 0 failed, 3 skipped')
    expect(r.code).toBe(0)
  })

  test('a failed test fails the run, and the counts still come last', () => {
    const r = ciRun(summary({ pass: 8, skip: 1, fail: 1 }), { status: 1 })
    expect(r.lastLine).toBe('10 passed, 1 failed, 1 skipped')
    expect(r.code).not.toBe(0)
  })

  test('npm test exiting non-zero fails the run even when the summary says 0 fail', () => {
    expect(ciRun(summary({ pass: 8, fail: 0 }), { status: 1 }).code).not.toBe(0)
  })

  test('a run in which no test ran is a failure', () => {
    const r = ciRun(summary({ pass: 0, skip: 4, fail: 0 }))
    expect(r.lastLine).toBe('2 passed, 0 failed, 4 skipped')
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('bun ran no test')
  })

  test('no bun summary at all (npm test died early): exit 2 with zero counts', () => {
    const r = ciRun('error: something broke before bun test ran\n', { status: 1 })
    expect(r.code).toBe(2)
    expect(r.lastLine).toBe('0 passed, 0 failed, 0 skipped')
  })

  const rootSkip = 'keyrack-test-skip: needs=root suite="second-user daemon tests" reason="useradd failed"\n'
  test('a security suite skipped while running as root fails the run, naming the suite', () => {
    const r = ciRun(`${rootSkip}${summary({ pass: 10, skip: 2, fail: 0 })}`)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('second-user daemon tests')
    expect(r.lastLine).toBe('12 passed, 0 failed, 2 skipped')
  })

  test('the same skip as a non-root user is expected: reported, not a failure', () => {
    const r = ciRun(`${rootSkip}${summary({ pass: 10, skip: 2, fail: 0 })}`, { uid: 1000 })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('second-user daemon tests')
  })

  test('the portable runs add up: a failed, skipped or todo TAP test counts, and a run with no test fails', () => {
    const tap = 'TAP version 13\n# Subtest: sdk\n    ok 1 - a\n    not ok 2 - b\n    ok 3 - c # SKIP no daemon\n    ok 4 - d # TODO later\n    1..4\nnot ok 1 - sdk\n'
    const r = ciRun(summary({ pass: 5, fail: 0 }), { tap })
    expect(r.lastLine).toBe('7 passed, 2 failed, 4 skipped')
    expect(r.code).not.toBe(0)
    const none = ciRun(summary({ pass: 5, fail: 0 }), { tap: 'error: deno not found\n' })
    expect(none.code).not.toBe(0)
    expect(none.stderr).toContain('ran no test')
  })

  const toolSkip = 'keyrack-test-skip: needs=tool suite="fill on a terminal (python3 pty)" reason="not installed: python3"\n'
  test('in CI, a suite skipped for a tool .ci/run installs fails the run; outside CI it does not', () => {
    expect(ciRun(`${toolSkip}${summary({ pass: 10, skip: 3, fail: 0 })}`).code).not.toBe(0)
    expect(ciRun(`${toolSkip}${summary({ pass: 10, skip: 3, fail: 0 })}`, { ci: false }).code).toBe(0)
  })
})
