/**
 * guard: the decision for one agent tool call, as a hook receives it (Claude Code's PreToolUse,
 * Gemini CLI's BeforeTool, Codex's PreToolUse): `tool_name`, `tool_input`, `cwd`. It blocks calls
 * that would read credential material directly (src/guard/protected.ts) and, under the owner's
 * `agent-values: deny`, `keyrack get`/`source`; each reason names the allowed alternative.
 */
import { homedir } from 'node:os'
import { dirname } from 'node:path'
import type { Context } from '../context.ts'
import { printable } from '../domain/printable.ts'
import { resolveSocketDir, SHARED_TMP } from '../daemon/paths.ts'
import { checkToolCall, type Finding } from '../guard/check.ts'
import { protectedSet } from '../guard/protected.ts'
import { readPolicy } from './policy.ts'

export interface GuardInput {
  /** the hook's JSON input, parsed */
  hook: unknown
}

export interface GuardDecision {
  allow: boolean
  /** the harness event the input came from (PreToolUse, BeforeTool), when it said */
  event: string | null
  tool: string | null
  findings: Finding[]
  /** what to tell the agent when blocked: what it would have read, and what to use instead */
  reason: string
}

export function guard(ctx: Context, input: GuardInput): GuardDecision {
  const hook = input.hook
  if (!hook || typeof hook !== 'object' || Array.isArray(hook)) return refuse('the hook input is not a JSON object')
  const { tool_name: tool, tool_input: toolInput, cwd, hook_event_name: event } = hook as Record<string, unknown>
  if (typeof tool !== 'string' || tool === '') return refuse('the hook input has no tool_name')
  const home = ctx.env.HOME || homedir()
  const uid = process.getuid?.() ?? -1
  const socketDirs = [resolveSocketDir({ env: ctx.env, uid }), `${SHARED_TMP}/keyrack-${uid}`]
  if (ctx.env.KEYRACK_SOCK) socketDirs.push(dirname(ctx.env.KEYRACK_SOCK))
  const findings = checkToolCall(
    { tool, input: toolInput && typeof toolInput === 'object' ? (toolInput as Record<string, unknown>) : {}, cwd: typeof cwd === 'string' ? cwd : ctx.cwd },
    {
      protected: protectedSet({ home, keyrackHome: ctx.home, socketDirs: [...new Set(socketDirs)], env: ctx.env }),
      env: ctx.env,
      home,
      denyValues: () => readPolicy(ctx).policy['agent-values'] === 'deny',
    },
  )
  const lines = findings.map((f) =>
    f.rule.id === 'agent-values' || f.rule.id === 'credential-command'
      ? `keyrack guard blocked this call: ${f.rule.what}. Instead, ${f.rule.instead}.`
      : `keyrack guard blocked this call: it reads ${f.rule.what}: ${printable(f.named)}${f.named === f.resolved ? '' : ` (${printable(f.resolved)})`}. Instead, ${f.rule.instead}.`,
  )
  return { allow: findings.length === 0, event: typeof event === 'string' ? event : null, tool, findings, reason: lines.join('\n') }
}

function refuse(why: string): GuardDecision {
  // a hook that cannot read its input blocks (fails closed) rather than let an unchecked call through
  return { allow: false, event: null, tool: null, findings: [], reason: `keyrack guard could not check this call: ${why}` }
}
