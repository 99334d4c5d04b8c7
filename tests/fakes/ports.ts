/**
 * Test doubles of the ports (src/ports.ts). Tests swap a port on the Context, never an adapter:
 *
 *   guardedSpawn(secrets)   the real spawn, but every call is recorded and any argv element
 *                           containing a planted secret fails the call (and the test)
 *   scriptedPrompt(answers) a "human" answering from a script; an unexpected question fails
 *   manualClock(start)      a clock the test moves (expiry, re-mint) instead of waiting
 */
import { spawnTool } from '../../src/runtime/spawn.ts'
import type { Choice, Prompt, Spawn, SpawnRequest } from '../../src/ports.ts'

export interface GuardedSpawn extends Spawn {
  readonly calls: SpawnRequest[]
  /** argv elements that carried a secret (must stay empty) */
  readonly leaks: string[]
}

/** the real spawn in `env`, refusing (and recording) any call whose argv carries one of `secrets()` */
export function guardedSpawn(env: Record<string, string | undefined>, secrets: () => readonly string[]): GuardedSpawn {
  const calls: SpawnRequest[] = []
  const leaks: string[] = []
  const spawn = (async (request: SpawnRequest) => {
    calls.push(request)
    for (const arg of request.argv) if (secrets().some((s) => s && arg.includes(s))) leaks.push(`${request.argv[0]}: argv carried a secret`)
    if (leaks.length > 0) throw new Error(`a secret reached the argv of ${request.argv[0]}`)
    return spawnTool(request, env)
  }) as GuardedSpawn
  return Object.assign(spawn, { calls, leaks })
}

export type ScriptedAnswer = string | boolean
export interface ScriptedPrompt extends Prompt {
  /** every question asked, in order */
  readonly asked: string[]
}

/** answers questions in order from `answers`; a question beyond the script throws */
export function scriptedPrompt(answers: ScriptedAnswer[]): ScriptedPrompt {
  const asked: string[] = []
  const next = (message: string): ScriptedAnswer => {
    asked.push(message)
    if (answers.length === 0) throw new Error(`unexpected prompt: ${message}`)
    return answers.shift()!
  }
  return {
    asked,
    secret: async (message) => String(next(message)),
    text: async (message) => String(next(message)),
    select: async <T extends string>(message: string, _choices: Choice<T>[]) => String(next(message)) as T,
    confirm: async (message) => Boolean(next(message)),
  }
}

export function manualClock(start = Date.UTC(2026, 0, 1)): (() => number) & { advance(ms: number): void } {
  let now = start
  return Object.assign(() => now, { advance: (ms: number) => void (now += ms) })
}
