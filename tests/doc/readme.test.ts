/**
 * The README runs. Every fenced `sh`/`bash` block (and `zsh`/`fish` ones, in those shells) of
 * README.md and docs/*.md is run, in order, on a scratch machine (tests/doc/sandbox.ts) built from
 * the README's own repo manifest, each command on a terminal with a simulated human answering
 * prompts; each command must exit 0 (or what its block declares). A block that cannot run here
 * says why: `<!-- doctest: skip — reason -->`. The convention is in docs/contributing.md.
 *
 * Independently of running, every `keyrack …` command in every shell block — skipped ones too —
 * must parse against the real command registry.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { allCommands, checkInvocation, keyrackInvocations } from '../helpers/commands.ts'
import { ensureBinary, ROOT } from '../helpers/harness.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'
import { commandsOf, docBlocks, SHELL_LANGS, type DocBlock } from './markdown.ts'
import { DEFAULT_STATE, DocSandbox, FIXTURES } from './sandbox.ts'

beforeAll(ensureBinary, 120_000)

const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
const blocksByFile = DOCS.map((file) => ({ file, blocks: docBlocks(readFileSync(join(ROOT, file), 'utf8'), file) }))
const shellBlocks = blocksByFile.flatMap(({ blocks }) => blocks.filter((b) => SHELL_LANGS[b.lang]))
const KNOWN = new Set(['skip', 'state', 'needs', 'continue', 'env', 'setup', 'expect-exit', 'expect-output', 'each-line', 'timeout', 'repo-manifest'])
const where = (b: DocBlock): string => `${b.file}:${b.line}`

/** what a block asks for, read from its directives */
interface Plan {
  skip?: string
  fixtures: string[]
  fresh: boolean
  env: Record<string, string>
  setup: string[]
  expectExit: number
  /** text the block's terminal output must contain (a command that "succeeds" doing nothing is a failure too) */
  expectOutput: string[]
  eachLine: boolean
  timeout: number
}

function planOf(block: DocBlock): Plan {
  const plan: Plan = { fixtures: [...DEFAULT_STATE], fresh: true, env: {}, setup: [], expectExit: 0, expectOutput: [], eachLine: false, timeout: 90 }
  let state: string[] | undefined
  const needs: string[] = []
  for (const d of block.directives) {
    const list = d.value.split(/[\s,]+/).filter(Boolean)
    if (d.name === 'skip') plan.skip = d.value.replace(/^[—–:-]\s*/, '')
    else if (d.name === 'state') state = list
    else if (d.name === 'needs') needs.push(...list)
    else if (d.name === 'continue') plan.fresh = false
    else if (d.name === 'env') for (const pair of d.value.split(/\s+(?=[A-Z_][A-Z0-9_]*=)/)) plan.env[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1)
    else if (d.name === 'setup') plan.setup.push(d.value)
    else if (d.name === 'expect-exit') plan.expectExit = Number(d.value)
    else if (d.name === 'expect-output') plan.expectOutput.push(d.value)
    else if (d.name === 'each-line') plan.eachLine = true
    else if (d.name === 'timeout') plan.timeout = Number(d.value)
  }
  const base = state ?? DEFAULT_STATE
  // `state new-machine` is the empty machine; fixtures always apply in the order they were named
  plan.fixtures = [...base.filter((f) => f !== 'new-machine'), ...needs.filter((f) => !base.includes(f))]
  // a live fixture (the daemon) goes last, after what it needs
  plan.fixtures.sort((a, b) => Number(FIXTURES[a]?.snapshot === false) - Number(FIXTURES[b]?.snapshot === false))
  return plan
}

describe('the doctest directives themselves', () => {
  test('every directive is known, every skip has a reason, every shell block is run or skipped', () => {
    const problems: string[] = []
    let skipped = 0
    for (const { blocks } of blocksByFile)
      for (const b of blocks)
        for (const d of b.directives) {
          if (!KNOWN.has(d.name)) problems.push(`${b.file}:${d.line}: unknown doctest directive \`${d.name}\` (known: ${[...KNOWN].join(', ')})`)
          if (d.name === 'skip' && d.value.replace(/^[—–:-]\s*/, '').length < 10) problems.push(`${b.file}:${d.line}: a skip needs a reason: <!-- doctest: skip — why it cannot run here -->`)
          if (d.name === 'skip') skipped++
          if (!SHELL_LANGS[b.lang] && d.name !== 'repo-manifest') problems.push(`${b.file}:${d.line}: \`${d.name}\` is for shell blocks, and this is a \`${b.lang || 'plain'}\` block`)
          if ((d.name === 'state' || d.name === 'needs') && d.value.split(/[\s,]+/).some((f) => f && !FIXTURES[f]))
            problems.push(`${b.file}:${d.line}: unknown fixture in \`${d.name} ${d.value}\` (fixtures: ${Object.keys(FIXTURES).join(', ')})`)
          if (d.name === 'expect-exit' && !/^\d+$/.test(d.value)) problems.push(`${b.file}:${d.line}: expect-exit takes a number`)
        }
    expect(problems).toEqual([])
    const manifests = blocksByFile.flatMap(({ blocks }) => blocks.filter((b) => b.directives.some((d) => d.name === 'repo-manifest')))
    expect(manifests.map(where)).toHaveLength(1)
    console.info(`doc tests: ${shellBlocks.length} shell blocks, ${skipped} skipped with a reason`)
  })

  test('every `keyrack …` command in every shell block parses (skipped blocks too)', async () => {
    const registry = await allCommands()
    const problems: string[] = []
    for (const b of shellBlocks)
      for (const c of commandsOf(b))
        for (const words of keyrackInvocations(c.text)) {
          const problem = checkInvocation(words, registry)
          if (problem) problems.push(`${b.file}:${c.line}: ${problem}`)
        }
    expect(problems).toEqual([])
  })
})

// the simulated human drives a pseudo-terminal from python3
describe.skipIf(skipFor('tool', 'README blocks on a terminal (python3 pty)', missingTool('python3')))('every shell block runs as written', () => {
  // made when a test of this group runs (a filtered run that skips them all leaves nothing behind)
  let box: DocSandbox
  beforeAll(() => {
    box = new DocSandbox()
    const manifestBlock = blocksByFile.flatMap(({ blocks }) => blocks).find((b) => b.directives.some((d) => d.name === 'repo-manifest'))
    box.repoManifest = manifestBlock?.code.replace(/^# .*\n/, '') ?? ''
  })
  afterAll(() => box?.cleanup())

  for (const block of shellBlocks) {
    const plan = planOf(block)
    const shell = SHELL_LANGS[block.lang]!
    const name = `${where(block)} (${block.heading})`
    if (plan.skip !== undefined) {
      test.skip(`${name} — skipped: ${plan.skip}`, () => {})
      continue
    }
    if (skipFor('tool', `${name} in ${shell}`, missingTool(shell))) {
      test.skip(`${name} — skipped: ${shell} is not installed`, () => {})
      continue
    }
    test(name, () => {
      const commands = commandsOf(block)
      const runs = plan.eachLine ? commands.map((c) => [c]) : [commands]
      const failures: string[] = []
      for (const group of runs) {
        if (plan.fresh || plan.eachLine) box.reset(plan.fixtures)
        for (const script of plan.setup) box.sh(script)
        const run = box.runBlock(shell, group, plan.env, plan.timeout)
        for (const { command, code } of run.lines)
          if (code !== plan.expectExit)
            failures.push(`${block.file}:${command.line}: \`${command.text.trim()}\` exited ${code ?? '(never finished)'}, expected ${plan.expectExit}`)
        for (const text of plan.expectOutput)
          if (!run.transcript.includes(text)) failures.push(`${where(block)}: the output does not say \`${text}\` (<!-- doctest: expect-output … -->)`)
        if (failures.length || !run.finished) {
          failures.push(`${run.finished ? '' : `the block did not finish within ${plan.timeout}s\n`}terminal transcript:\n${run.transcript.replace(/^/gm, '  | ')}`)
          break
        }
      }
      expect(failures.join('\n')).toBe('')
    }, (plan.timeout + 60) * 1000 * (plan.eachLine ? commandsOf(block).length : 1))
  }
})
