/**
 * `keyrack mcp`: an MCP server on stdio for agent harnesses, scoped to the worksite it starts in.
 *
 *   keyrack_status  each allowlisted key of an env (or of every env the repo declares): granted,
 *                   locked, absent, expired or blocked, with the command a human runs to fix it
 *   keyrack_exec    runs a command with the repo's keys in its environment; its output is always
 *                   redacted, it gets no stdin, and it ends after a timeout
 *
 * No tool returns a secret: status reads states, never values; exec's output passes through the
 * redactor; errors are keyrack's typed errors, which never hold one. Nothing here unlocks: a
 * locked key comes back with the exact `keyrack unlock` command for the human, phrased as such.
 * Every call goes to the audit log (`mcp.keyrack_exec`, with this server and its client as the
 * caller's chain).
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Context } from '../context.ts'
import { KeyrackError, KeyrackUsageError } from '../domain/errors.ts'
import { VERSION } from '../domain/version.ts'
import { readRepoManifest } from '../manifests/repo.ts'
import { findWorksite, repoManifestPath } from '../manifests/worksite.ts'
import { KeyrackKeysUnavailableError } from '../sdk/errors.ts'
import { exec } from '../sdk/exec.ts'
import { fillPlan } from '../sdk/fill-plan.ts'

/** each stream keeps at most this much of the command's output (the end, where results are) */
const MAX_OUTPUT = 512 * 1024
const DEFAULT_TIMEOUT_S = 600
const MAX_TIMEOUT_S = 3600

export const TOOLS = [
  {
    name: 'keyrack_status',
    description:
      "The repo's allowlisted keys and whether each is usable now: granted, locked (a human must unlock it), absent (a human must set it), expired or blocked, with the exact command for the human. Never returns a secret.",
    inputSchema: {
      type: 'object' as const,
      properties: { env: { type: 'string', description: 'the env to check (test, prep, …); default: every env the repo declares' } },
      additionalProperties: false,
    },
  },
  {
    name: 'keyrack_exec',
    description:
      "Runs a command in the repo with the repo's keys for an env in its environment (e.g. the tests). Its output is redacted: every key shows as [keyrack:KEY]. It gets no stdin and is stopped after timeout_seconds. Returns the exit code and the output.",
    inputSchema: {
      type: 'object' as const,
      properties: {
        command: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'the program and its arguments, e.g. ["npm", "test"]; for a shell line use ["sh", "-c", "…"]' },
        env: { type: 'string', description: 'the env whose keys the command gets (test, prep, …)' },
        timeout_seconds: { type: 'number', minimum: 1, maximum: MAX_TIMEOUT_S, description: `default ${DEFAULT_TIMEOUT_S}` },
      },
      required: ['command', 'env'],
      additionalProperties: false,
    },
  },
]

type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean; structuredContent?: Record<string, unknown> }

export async function serveMcp(ctx: Context): Promise<void> {
  const server = new Server({ name: 'keyrack', version: VERSION }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }))
  server.setRequestHandler(CallToolRequestSchema, async (request) => callTool(ctx, request.params.name, request.params.arguments ?? {}))
  const transport = new StdioServerTransport()
  const closed = new Promise<void>((resolve) => (transport.onclose = resolve))
  await server.connect(transport)
  await closed
}

export async function callTool(ctx: Context, name: string, args: Record<string, unknown>): Promise<ToolResult> {
  try {
    if (name === 'keyrack_status') return await status(ctx, args)
    if (name === 'keyrack_exec') return await runExec(ctx, args)
    throw new KeyrackUsageError(`no tool named ${JSON.stringify(name).slice(0, 80)}: the tools are keyrack_status and keyrack_exec`)
  } catch (error) {
    return failure(error)
  }
}

async function status(ctx: Context, args: Record<string, unknown>): Promise<ToolResult> {
  const envs = args.env === undefined ? declaredEnvs(ctx) : [stringArg(args, 'env')]
  const out = []
  for (const env of envs) {
    const plan = await fillPlan({ ...ctx, audit: { command: 'mcp.keyrack_status', daemonLogged: new Set() } }, { env })
    out.push({
      env: plan.env,
      ready: plan.ready,
      keys: plan.keys.map((k) => ({
        key: k.key,
        state: k.optional ? 'optional' : k.state,
        ...(k.reason ? { reason: k.reason } : {}),
        ...(k.state === 'granted' || k.optional ? {} : { human: forHuman(k.hint) }),
      })),
    })
  }
  const text = out
    .map((e) => [`env ${e.env}: ${e.ready ? 'ready' : 'not ready'}`, ...e.keys.map((k) => `  ${k.key}  ${k.state}${k.reason ? ` (${k.reason})` : ''}${'human' in k && k.human?.length ? `\n    ${k.human.join('\n    ')}` : ''}`)].join('\n'))
    .join('\n')
  return { content: [{ type: 'text', text }], structuredContent: { envs: out } }
}

async function runExec(ctx: Context, args: Record<string, unknown>): Promise<ToolResult> {
  const command = args.command
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string'))
    throw new KeyrackUsageError('`command` is the program and its arguments, as an array of strings: ["npm", "test"]')
  const env = stringArg(args, 'env')
  const timeout = args.timeout_seconds === undefined ? DEFAULT_TIMEOUT_S : Number(args.timeout_seconds)
  if (!Number.isFinite(timeout) || timeout < 1 || timeout > MAX_TIMEOUT_S) throw new KeyrackUsageError(`timeout_seconds must be between 1 and ${MAX_TIMEOUT_S}`)
  const stdout = new Tail(MAX_OUTPUT)
  const stderr = new Tail(MAX_OUTPUT)
  const result = await exec(
    { ...ctx, audit: { command: 'mcp.keyrack_exec' } },
    { for: 'repo', env, command: command as string[], redact: true, stdin: 'ignore', stdout: stdout.sink, stderr: stderr.sink, timeoutMs: timeout * 1000 },
  )
  const exit = result.timedOut ? `stopped after ${timeout}s (timeout)` : result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`
  const text = [
    `${exit}; output redacted: each key shows as [keyrack:KEY]`,
    `--- stdout${stdout.dropped ? ` (last ${MAX_OUTPUT} bytes of ${stdout.total})` : ''} ---`,
    stdout.text(),
    `--- stderr${stderr.dropped ? ` (last ${MAX_OUTPUT} bytes of ${stderr.total})` : ''} ---`,
    stderr.text(),
  ].join('\n')
  return {
    content: [{ type: 'text', text }],
    structuredContent: { exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut, stdout: stdout.text(), stderr: stderr.text() },
  }
}

/** keeps the last `limit` bytes written */
class Tail {
  private chunks: Uint8Array[] = []
  private kept = 0
  total = 0
  dropped = false
  constructor(private readonly limit: number) {}
  sink = (chunk: Uint8Array): void => {
    this.total += chunk.length
    this.chunks.push(chunk.slice())
    this.kept += chunk.length
    while (this.kept - this.chunks[0]!.length >= this.limit) {
      this.kept -= this.chunks.shift()!.length
      this.dropped = true
    }
  }
  text(): string {
    return new TextDecoder().decode(Buffer.concat(this.chunks))
  }
}

/** the commands in a report's hints are for a human: say so, whatever the hint's wording */
function forHuman(hints: string[]): string[] {
  return hints.map((h) => (/^ask a human/i.test(h) ? h : `a human runs: ${h}`))
}

function failure(error: unknown): ToolResult {
  if (error instanceof KeyrackKeysUnavailableError) {
    const lines = [error.message, ...error.report.map((r) => `  ${r.key}  ${r.optional ? 'optional' : r.state}${r.reason ? ` (${r.reason})` : ''}`), ...forHuman(error.hint)]
    return { content: [{ type: 'text', text: lines.join('\n') }], isError: true }
  }
  if (error instanceof KeyrackError) return { content: [{ type: 'text', text: [error.message, ...forHuman(error.hint)].join('\n') }], isError: true }
  // not ours: the class only (a foreign error's message could hold anything)
  return { content: [{ type: 'text', text: `keyrack failed: ${error instanceof Error ? error.name : 'error'}` }], isError: true }
}

function stringArg(args: Record<string, unknown>, name: string): string {
  const value = args[name]
  if (typeof value !== 'string' || value === '') throw new KeyrackUsageError(`\`${name}\` is required: a string`)
  return value
}

function declaredEnvs(ctx: Context): string[] {
  const worksite = findWorksite(ctx.cwd, ctx.env)
  if (!worksite) throw new KeyrackUsageError(`keyrack mcp runs in a git repository with .agent/keyrack.yml; ${ctx.cwd} is not in one`)
  const manifest = readRepoManifest(worksite, ctx.env)
  const envs = [...manifest.envs.keys()].filter((e) => e !== 'all')
  if (envs.length === 0) throw new KeyrackUsageError(`${repoManifestPath(worksite)} declares no env`)
  return envs
}
