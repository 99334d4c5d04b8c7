/**
 * Is keyrack running under an AI agent? Agent harnesses mark the environment of the commands they
 * run; a few set nothing, and are known by their process name in the caller's chain instead. This
 * table is data: one row per harness, with where its marker is documented or observed (see
 * docs/decisions.md, "Agent detection").
 *
 * A false positive only turns redaction on (the safe direction); a harness missing from the table
 * can be named with KEYRACK_AGENT=1 in its environment, or the rule set to `always`.
 */

export interface AgentMarker {
  /** a short name for messages and the audit log */
  agent: string
  /** environment variables the harness sets in the commands it runs (any one, non-empty, matches) */
  env: string[]
  /** executable names (the kernel's short name) of the harness, matched against the caller's parents */
  process: string[]
}

export const AGENT_MARKERS: readonly AgentMarker[] = [
  // keyrack's own: for a harness that sets nothing (or a user who wants to say so)
  { agent: 'keyrack-agent', env: ['KEYRACK_AGENT'], process: [] },
  // a cross-harness convention (vercel/detect-agent's `AI_AGENT`)
  { agent: 'ai-agent', env: ['AI_AGENT'], process: [] },
  // Claude Code sets CLAUDECODE=1 in the shells it spawns; CLAUDE_CODE_ENTRYPOINT says how it was started
  { agent: 'claude-code', env: ['CLAUDECODE', 'CLAUDE_CODE_ENTRYPOINT'], process: ['claude'] },
  // Cursor's agent (CLI and the editor's agent terminal); CURSOR_TRACE_ID alone is any Cursor terminal, a human's too
  { agent: 'cursor', env: ['CURSOR_AGENT'], process: ['cursor-agent'] },
  // OpenAI Codex CLI: its sandbox markers and thread id
  { agent: 'codex', env: ['CODEX_SANDBOX', 'CODEX_SANDBOX_NETWORK_DISABLED', 'CODEX_THREAD_ID', 'CODEX_CI'], process: ['codex'] },
  // Google Gemini CLI sets GEMINI_CLI=1 in its shell tool
  { agent: 'gemini-cli', env: ['GEMINI_CLI'], process: ['gemini'] },
  // Aider documents no marker for the commands it runs: it is known by its process name
  { agent: 'aider', env: [], process: ['aider'] },
  { agent: 'cline', env: ['CLINE_ACTIVE'], process: [] },
  { agent: 'opencode', env: ['OPENCODE', 'OPENCODE_CLIENT'], process: ['opencode'] },
  { agent: 'augment', env: ['AUGMENT_AGENT'], process: ['auggie'] },
  { agent: 'antigravity', env: ['ANTIGRAVITY_AGENT'], process: [] },
  { agent: 'junie', env: ['JUNIE_DATA'], process: [] },
  { agent: 'goose', env: ['GOOSE_TERMINAL'], process: ['goose'] },
]

/** values that say "no" when a marker is set but switched off (KEYRACK_AGENT=0) */
const OFF = new Set(['0', 'false', 'no', 'off'])

export interface AgentFinding {
  agent: string
  /** what showed it: `env CLAUDECODE` or `process claude (pid 123)` */
  evidence: string
}

/** the first agent the environment names, or null */
export function agentFromEnv(env: Record<string, string | undefined>): AgentFinding | null {
  for (const marker of AGENT_MARKERS)
    for (const name of marker.env) {
      const value = env[name]
      if (value !== undefined && value !== '' && !OFF.has(value.trim().toLowerCase())) return { agent: marker.agent, evidence: `env ${name}` }
    }
  return null
}

/** the first agent whose executable is among the caller's parents, or null */
export function agentFromChain(chain: readonly { pid: number; exe: string | null; name: string | null }[]): AgentFinding | null {
  for (const link of chain) {
    const names = [link.name, link.exe?.split('/').pop() ?? null].filter((n): n is string => n !== null)
    for (const marker of AGENT_MARKERS)
      for (const name of marker.process) if (names.includes(name)) return { agent: marker.agent, evidence: `process ${name} (pid ${link.pid})` }
  }
  return null
}
