/**
 * Every command keyrack prints as the next step can be pasted and run. For each situation a new
 * user meets in the first hour (no manifest, no owner, locked, absent, outside a repo, …) keyrack
 * is run as a script would run it; every `keyrack …` command in what it printed is checked
 * against the command registry, then run in that same situation on a terminal, with the
 * simulated human answering prompts. A hint may leave work for later (a key can still be locked
 * after it is set) but it must never be refused as written: no usage error (2), no allowlist
 * refusal (3), no bug (1). Where a hint is the whole fix, the situation's command then succeeds.
 *
 * Placeholders a hint must leave to the user (the org, which mech) are filled in as the user
 * would: see PLACEHOLDERS.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { allCommands, checkInvocation, keyrackInvocations } from '../helpers/commands.ts'
import { ensureBinary } from '../helpers/harness.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'
import { DocSandbox } from './sandbox.ts'
import { docBlocks } from './markdown.ts'

beforeAll(ensureBinary, 120_000)

/** what a user types in place of a placeholder */
const PLACEHOLDERS: [RegExp, string][] = [
  [/<org>|<your-org>|\bORG\b/g, 'ehmpathy'],
  [/<mech>|<MECH>/g, 'PERMANENT_VIA_REPLICA'],
  [/\bKEY\b/g, 'AWS_ADMIN'],
  [/\bENV\b/g, 'test'],
]

interface Scenario {
  name: string
  /** fixtures (tests/doc/sandbox.ts) */
  state: string[]
  /** shell run before, in the repo */
  setup?: string
  /** where the command runs: the repo (default) or a directory outside any repo */
  outside?: boolean
  /** the command, run as a script runs it (no terminal) */
  run: string
  /** a human types `run` on a terminal (the first time and after following the hints) */
  terminal?: boolean
  /** the hints are the whole fix: afterwards `run` exits 0 */
  fixes?: boolean
  /** how many commands the output must name, at least */
  hints: number
  /** exit codes a hint may end with in this situation (besides 0), e.g. 4 for a key not unlocked yet */
  allow?: number[]
}

const SCENARIOS: Scenario[] = [
  { name: 'a repo without a manifest', state: ['human'], run: 'keyrack get --for repo --env test', fixes: true, hints: 1 },
  { name: 'init --repo with no git remote to take the org from', state: [], setup: 'git remote remove origin', run: 'keyrack init --repo', fixes: false, hints: 1 },
  { name: 'an owner that was never initialized', state: ['manifest'], run: 'keyrack get --for repo --env test', hints: 2, allow: [4] },
  { name: 'keys that were never set', state: ['manifest', 'human'], run: 'keyrack get --for repo --env test', hints: 2, allow: [4] },
  { name: 'keys set but locked', state: ['manifest', 'human', 'keys'], run: 'keyrack get --for repo --env test', fixes: true, hints: 1 },
  { name: 'outside a repo', state: ['manifest', 'human', 'keys'], outside: true, run: 'keyrack get --for repo --env test', hints: 2, allow: [4] },
  { name: 'del of a key stored for env all, by another env', state: ['manifest', 'human', 'keys'], terminal: true, run: 'keyrack del --key XAI_API_KEY --env test', hints: 1 },
  { name: 'set without a mech', state: ['manifest', 'human'], run: 'keyrack set --key XAI_API_KEY --env all --vault os.secure', hints: 1 },
  { name: 'set without a terminal or --secret-stdin', state: ['manifest', 'human'], run: 'keyrack set --key XAI_API_KEY --env all --vault os.secure --mech PERMANENT_VIA_REPLICA', hints: 1 },
  { name: 'fill without a terminal', state: ['manifest', 'human'], run: 'keyrack fill --env test', hints: 2, allow: [4] },
  { name: 'an owner that does not exist', state: ['manifest', 'human'], terminal: true, run: 'keyrack list --owner ghost', fixes: true, hints: 1 },
  { name: 'status with nothing unlocked', state: ['manifest', 'human', 'keys'], run: 'keyrack status', hints: 1 },
]

/**
 * `keyrack …` commands in what keyrack printed: in backticks, or written out in the prose of a
 * line (`…, then: keyrack set --key …`) up to a parenthesis or comment that explains it
 */
function printedCommands(stderr: string, names: string[]): string[] {
  const found: string[] = []
  const command = new RegExp(`(?:^|\\s)(keyrack (?:${names.join('|')})\\b[^;]*?)(?= \\(|\\s{2,}#|;|,? then\\b|$)`, 'g')
  for (const line of stderr.split('\n').filter((l) => l.startsWith('keyrack: '))) {
    const parts = line.slice('keyrack: '.length).split('`')
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        if (/\bkeyrack [a-z]/.test(part)) found.push(part)
        return
      }
      for (const m of part.matchAll(command)) found.push(m[1]!)
    })
  }
  // prose around a command (`ask a human to run …`): keep the command itself
  return [...new Set(found.map((c) => c.slice(c.search(/(?:printf|keyrack) /)).trim()))]
}

const fill = (command: string): string => PLACEHOLDERS.reduce((c, [re, value]) => c.replace(re, value), command)

describe.skipIf(skipFor('tool', 'hint commands on a terminal (python3 pty)', missingTool('python3')))('every command keyrack prints as a next step runs as printed', () => {
  // made when a test of this group runs (a filtered run that skips them all leaves nothing behind)
  let box: DocSandbox
  beforeAll(() => {
    box = new DocSandbox()
    const readme = readFileSync(join(import.meta.dir, '..', '..', 'README.md'), 'utf8')
    box.repoManifest = docBlocks(readme, 'README.md').find((b) => b.directives.some((d) => d.name === 'repo-manifest'))!.code
  })
  afterAll(() => box?.cleanup())
  const outside = () => {
    const dir = join(box.home, 'elsewhere')
    mkdirSync(dir, { recursive: true })
    return dir
  }
  /** as a script runs it: no terminal */
  const script = (command: string, cwd: string): { status: number | null; stderr: string } =>
    spawnSync('bash', ['-c', command], { cwd, env: box.env({ SECRET: 'doctest-piped-secret' }), input: '', encoding: 'utf8', timeout: 60_000 })
  /** as a human types it: on a terminal, prompts answered; stderr is the terminal transcript */
  const onTerminal = (command: string, cwd: string): { status: number | null; stderr: string } => {
    const run = box.runBlock('bash', [{ line: 0, text: cwd === box.repo ? command : `cd ${JSON.stringify(cwd)} && ${command}` }], { SECRET: 'doctest-piped-secret' }, 60)
    return { status: run.lines[0]!.code, stderr: run.transcript }
  }

  for (const s of SCENARIOS)
    test(s.name, async () => {
      box.reset(s.state)
      if (s.setup) box.sh(s.setup)
      const cwd = s.outside ? outside() : box.repo
      const first = s.terminal ? onTerminal(s.run, cwd) : script(s.run, cwd)
      const registry = await allCommands()
      const commands = printedCommands(first.stderr, registry.filter((c) => c.words.length === 1).map((c) => c.words[0]!)).map(fill)
      if (process.env.DOCTEST_VERBOSE) console.info(`${s.name}:\n  ${commands.join("\n  ")}`)
      expect({ printed: first.stderr, count: commands.length >= s.hints }).toEqual({ printed: first.stderr, count: true })

      for (const command of commands)
        for (const words of keyrackInvocations(command)) expect({ command, problem: checkInvocation(words, registry) }).toEqual({ command, problem: null })

      for (const command of commands) {
        // run where the user was, on a terminal: the simulated human types what is asked
        const run = onTerminal(command, cwd)
        const code = run.status
        const ok = code === 0 || (code !== null && (s.allow ?? []).includes(code))
        expect({ command, code, ok, transcript: ok ? '' : run.stderr }).toEqual({ command, code, ok: true, transcript: '' })
      }
      if (s.fixes) {
        const again = s.terminal ? onTerminal(s.run, cwd) : script(s.run, cwd)
        expect({ after: s.run, code: again.status, stderr: again.status === 0 ? '' : again.stderr }).toEqual({ after: s.run, code: 0, stderr: '' })
      }
    }, 180_000)

})

