/**
 * `keyrack guard check`: the hook an agent harness runs before each tool call (JSON on stdin).
 * Allowed: exit 0, nothing on stdout (`{}` for Gemini CLI, whose hooks answer in JSON). Blocked:
 * exit 2 with the reason on stderr — the blocking signal Claude Code, Gemini CLI and Codex all
 * document, which reaches the agent as the reason. Anything keyrack cannot check (bad input, a bug)
 * blocks too: a guard that fails open guards nothing.
 *
 * `keyrack guard install --for claude-code|gemini-cli [--remove]`: writes the hook into the project's
 * settings file, keeping everything else.
 */
import { defineCommand } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { findWorksite } from '../../manifests/worksite.ts'
import { guard } from '../../sdk/guard.ts'
import { GUARD_COMMAND, HARNESSES, installGuardHook, type Harness } from '../../guard/install.ts'
import { action, say } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

const MAX_INPUT = 4 * 1024 * 1024

const check = defineCommand({
  meta: {
    name: 'guard check',
    description:
      'the hook an agent harness runs before each tool call: reads the call as JSON on stdin, exits 2 with the\nreason on stderr when it would read credential material, 0 otherwise\n\n' +
      "examples:\n  echo '{\"tool_name\":\"Read\",\"tool_input\":{\"file_path\":\"/tmp/x\"}}' | keyrack guard check",
  },
  args: { ...ownerArgs },
  run: action(async (args) => {
    if (process.stdin.isTTY)
      throw new KeyrackUsageError('`keyrack guard check` reads a tool call as JSON on stdin: the agent harness runs it', ['keyrack guard install --for claude-code'])
    // a bad --owner is a usage error (exit 2, which also blocks the call)
    const ctx = cliContext(args)
    let decision
    try {
      const text = await readStdin()
      let hook: unknown
      try {
        hook = JSON.parse(text)
      } catch {
        hook = null
      }
      decision = guard(ctx, { hook })
    } catch (error) {
      // fail closed: an unchecked call is not let through
      process.stderr.write(`keyrack guard could not check this call (${error instanceof Error ? error.name : 'error'}): it is blocked; run \`keyrack doctor\`\n`)
      process.exitCode = 2
      return
    }
    if (decision.allow) {
      if (decision.event === 'BeforeTool') process.stdout.write('{}\n')
      return
    }
    process.stderr.write(`${decision.reason}\n`)
    process.exitCode = 2
  }),
})

const install = defineCommand({
  meta: {
    name: 'guard install',
    description:
      "adds keyrack's guard hook to this project's agent settings, keeping every other setting (--remove takes it out)\n\n" +
      'examples:\n  keyrack guard install --for claude-code\n  keyrack guard install --for gemini-cli\n  keyrack guard install --for claude-code --remove',
  },
  args: {
    for: { type: 'string', description: `the harness: ${Object.keys(HARNESSES).join(' | ')}`, valueHint: 'harness' },
    remove: { type: 'boolean', description: 'take the hook out again' },
  },
  run: action(async (args) => {
    const harness = args.for as string | undefined
    if (!harness || !(harness in HARNESSES))
      throw new KeyrackUsageError(`--for must be one of: ${Object.keys(HARNESSES).join(', ')}`, ['keyrack guard install --for claude-code'])
    const ctx = cliContext({})
    const worksite = findWorksite(ctx.cwd, ctx.env)
    if (!worksite) throw new KeyrackUsageError('not inside a git repository: the hook goes in the project\'s settings', ['cd into the repo, then run `keyrack guard install --for claude-code`'])
    const result = installGuardHook({ worksite, harness: harness as Harness, remove: args.remove })
    const messages = {
      added: `added the guard hook (\`${GUARD_COMMAND}\`) to ${result.file}`,
      'already-present': `the guard hook is already in ${result.file}: nothing changed`,
      removed: `removed the guard hook from ${result.file}`,
      'not-present': `no guard hook in ${result.file}: nothing changed`,
    }
    say(messages[result.action])
    if (result.action === 'added') say('the hook runs `keyrack` from PATH: keep keyrack installed where the harness finds it (`keyrack --version`)')
  }),
})

export default defineCommand({
  meta: { name: 'guard', description: "a hook for agent harnesses that blocks tool calls reading credential material\n\nexamples:\n  keyrack guard install --for claude-code" },
  subCommands: { check, install },
})

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    if (size > MAX_INPUT) throw new Error('the hook input is larger than 4 MiB')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}
