/**
 * Agent detection (src/domain/agents.ts), the redaction decision (src/domain/policy.ts) and the
 * process chain (src/runtime/process-chain.ts) against a fake /proc and a fake process table.
 */
import { describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AGENT_MARKERS, agentFromChain, agentFromEnv } from '../../src/domain/agents.ts'
import { KeyrackPolicyError } from '../../src/domain/errors.ts'
import { decideRedact, effectivePolicy, isStoredPolicy } from '../../src/domain/policy.ts'
import { linuxProcessTable, MAX_CHAIN, processChain, type ProcessInfo } from '../../src/runtime/process-chain.ts'

describe('agent markers', () => {
  test('each harness is found by each of its markers; none in a plain environment', () => {
    for (const marker of AGENT_MARKERS)
      for (const name of marker.env) expect(agentFromEnv({ PATH: '/bin', [name]: '1' })).toEqual({ agent: marker.agent, evidence: `env ${name}` })
    expect(agentFromEnv({ PATH: '/bin', HOME: '/h', TERM_PROGRAM: 'vscode', CURSOR_TRACE_ID: 'x' })).toBeNull()
  })

  test('a marker that is empty or says no is not a marker', () => {
    for (const value of ['', '0', 'false', 'no', 'OFF', ' off ']) expect(agentFromEnv({ KEYRACK_AGENT: value })).toBeNull()
    expect(agentFromEnv({ CLAUDECODE: '1' })!.agent).toBe('claude-code')
  })

  test('a harness without a marker is found by its name among the parents', () => {
    const chain = [
      { pid: 30, exe: '/usr/bin/dash', name: 'sh' },
      { pid: 20, exe: '/usr/bin/python3.12', name: 'aider' },
      { pid: 10, exe: '/bin/bash', name: 'bash' },
    ]
    expect(agentFromChain(chain)).toEqual({ agent: 'aider', evidence: 'process aider (pid 20)' })
    expect(agentFromChain([{ pid: 5, exe: '/home/u/.local/bin/claude', name: 'MainThread' }])!.agent).toBe('claude-code')
    expect(agentFromChain([{ pid: 5, exe: null, name: 'bash' }])).toBeNull()
  })
})

describe('the redaction decision', () => {
  const agent = { agent: 'claude-code', evidence: 'env CLAUDECODE' }
  const decide = (requested: boolean | undefined, rule: 'always' | 'agents' | 'never', found = agent as typeof agent | null) =>
    decideRedact({ requested, rule, agent: found, owner: 'human' }).redact
  test('flags, then the rule; agents means an agent was found', () => {
    expect([decide(undefined, 'agents'), decide(undefined, 'agents', null), decide(undefined, 'always', null), decide(undefined, 'never')]).toEqual([true, false, true, false])
    expect([decide(true, 'never'), decide(false, 'agents'), decide(false, 'never')]).toEqual([true, false, false])
  })
  test('--no-redact under always is a policy error (exit 10) naming the rule and the human command', () => {
    let error: unknown
    try {
      decideRedact({ requested: false, rule: 'always', agent, owner: 'seaturtle' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(KeyrackPolicyError)
    expect((error as KeyrackPolicyError).exitCode).toBe(10)
    expect((error as KeyrackPolicyError).hint.join('\n')).toContain('keyrack policy --redact agents --owner seaturtle')
  })
  test('stored policies: only known rules and values', () => {
    expect(effectivePolicy({ redact: 'always' })).toEqual({ redact: 'always', 'agent-values': 'allow' })
    expect(isStoredPolicy({ redact: 'never', 'agent-values': 'deny' })).toBe(true)
    for (const bad of [null, [], { redact: 'sometimes' }, { 'agent-values': 'yes' }, { other: 1 }]) expect(isStoredPolicy(bad)).toBe(false)
  })
})

describe('process chain', () => {
  const table = (rows: ProcessInfo[]) => ({ read: (pid: number) => rows.find((r) => r.pid === pid) ?? null })

  test('nearest first, up to and including the session leader', () => {
    const chain = processChain(
      40,
      table([
        { pid: 40, ppid: 30, sid: 10, exe: '/k/keyrack', name: 'keyrack' },
        { pid: 30, ppid: 20, sid: 10, exe: '/bin/sh', name: 'sh' },
        { pid: 20, ppid: 10, sid: 10, exe: '/usr/bin/node', name: 'claude' },
        { pid: 10, ppid: 5, sid: 10, exe: '/bin/zsh', name: 'zsh' },
        { pid: 5, ppid: 1, sid: 5, exe: '/usr/sbin/sshd', name: 'sshd' },
      ]),
    )
    expect(chain.map((c) => c.pid)).toEqual([40, 30, 20, 10])
    expect(chain[2]).toEqual({ pid: 20, exe: '/usr/bin/node', name: 'claude' })
  })

  test('ends at pid 1, at a process that is gone, on a loop, and after MAX_CHAIN links', () => {
    expect(processChain(3, table([{ pid: 3, ppid: 1, sid: null, exe: null, name: 'a' }, { pid: 1, ppid: 0, sid: null, exe: null, name: 'init' }])).length).toBe(2)
    expect(processChain(3, table([{ pid: 3, ppid: 99, sid: null, exe: null, name: 'a' }])).length).toBe(1)
    expect(processChain(3, table([{ pid: 3, ppid: 4, sid: null, exe: null, name: 'a' }, { pid: 4, ppid: 3, sid: null, exe: null, name: 'b' }])).length).toBe(2)
    const deep = Array.from({ length: 100 }, (_, i) => ({ pid: i + 2, ppid: i + 3, sid: null, exe: null, name: `p${i}` }))
    expect(processChain(2, table(deep)).length).toBe(MAX_CHAIN)
  })

  test('/proc: comm with spaces and parentheses, an unreadable exe link', () => {
    const root = mkdtempSync(join(tmpdir(), 'kr-proc-'))
    try {
      mkdirSync(join(root, '7'))
      writeFileSync(join(root, '7', 'stat'), '7 (my (odd) name) S 3 7 2 0 -1 4194560 100 0 0 0\n')
      symlinkSync('/usr/bin/odd', join(root, '7', 'exe'))
      mkdirSync(join(root, '3'))
      writeFileSync(join(root, '3', 'stat'), '3 (bash) S 1 3 3 34816 3 4194560\n')
      const procs = linuxProcessTable(root)
      expect(procs.read(7)).toEqual({ pid: 7, ppid: 3, sid: 2, exe: '/usr/bin/odd', name: 'my (odd) name' })
      expect(procs.read(3)).toEqual({ pid: 3, ppid: 1, sid: 3, exe: null, name: 'bash' })
      expect(procs.read(99)).toBeNull()
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  test('the real /proc: this process first, with its executable', () => {
    const chain = processChain(process.pid)
    expect(chain[0]!.pid).toBe(process.pid)
    expect(chain[0]!.exe).toBe(process.execPath)
  })
})
