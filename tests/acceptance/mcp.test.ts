/**
 * `keyrack mcp` through the compiled binary, driven by the MCP SDK's own client over stdio — the
 * "agent". It lists the tools, calls each, and no response holds a planted secret in any form
 * (raw, base64, base64url, hex, percent-encoded, JSON-escaped). A locked key comes back with the
 * human's unlock command and nothing that would let the agent unlock.
 *
 * End to end (issue 12's "done"): a repo with the guard installed and the MCP server configured;
 * the agent runs the repo's tests with their keys through keyrack_exec; it cannot read the keys
 * through the guarded paths; and `keyrack audit --json` shows the call with a process chain that
 * includes the agent (this test process).
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { formsOf } from '../../src/redact/forms.ts'
import { BIN, ensureBinary, Sandbox } from '../helpers/harness.ts'

setDefaultTimeout(60_000)
beforeAll(ensureBinary, 120_000)

const SECRETS = {
  API_TOKEN: `sk-mcp-${crypto.randomUUID()}`,
  DB_PASSWORD: `pw/with+special&chars"${crypto.randomUUID().slice(0, 8)}<é>`,
  LOCKED_KEY: `locked-${crypto.randomUUID()}`,
}
const MANIFEST = 'org: acme\nenv.test:\n  - API_TOKEN\n  - DB_PASSWORD\nenv.prod:\n  - LOCKED_KEY\n'
const DIRECT = ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']
const SECURE = ['--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA']
const PASS = 'correct horse battery staple'

/** every form of every planted secret: none may appear in anything the agent receives */
const FORBIDDEN = Object.values(SECRETS).flatMap((s) => formsOf(s).map((f) => new TextDecoder().decode(f.bytes)))
const leaks = (value: unknown): string[] => {
  const text = JSON.stringify(value)
  return FORBIDDEN.filter((form) => text.includes(form) || text.includes(JSON.stringify(form).slice(1, -1)))
}

describe('keyrack mcp', () => {
  const sb = new Sandbox('kr-mcp')
  let client: Client
  let transport: StdioClientTransport
  afterAll(async () => {
    await client?.close().catch(() => undefined)
    sb.cleanup()
  })

  beforeAll(async () => {
    expect(sb.run(['init', '--passphrase-fd', '3'], { fds: { 3: `${PASS}\n` } }).code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
    for (const [key, secret] of Object.entries(SECRETS)) {
      const env = key === 'LOCKED_KEY' ? 'prod' : 'test'
      const r = sb.run(['set', '--key', key, '--env', env, ...(key === 'LOCKED_KEY' ? SECURE : DIRECT), '--secret-stdin', '--passphrase-fd', '3'], { input: secret, fds: { 3: `${PASS}\n` } })
      expect(r.code).toBe(0)
    }
    // the repo's "tests": print the keys every way a careless test might, and check they are right
    writeFileSync(
      join(sb.repo, 'test.sh'),
      [
        '#!/bin/sh',
        'test "$API_TOKEN" = "$EXPECTED_API_TOKEN_SHA" || true',
        'echo "token: $API_TOKEN"',
        'printf "basic: %s\\n" "$(printf "user:%s" "$DB_PASSWORD" | base64 -w0)"',
        'printf "hex: %s\\n" "$(printf %s "$API_TOKEN" | od -An -tx1 | tr -d " \\n")"',
        `python3 -c 'import json, os, urllib.parse; print(json.dumps(dict(os.environ)["DB_PASSWORD"])); print(urllib.parse.quote(os.environ["DB_PASSWORD"], safe=""))'`,
        'echo "stderr: $DB_PASSWORD" >&2',
        'echo "checked: $(printf %s "$API_TOKEN" | sha256sum | cut -c1-8)"',
        'exit 3',
      ].join('\n'),
    )
    chmodSync(join(sb.repo, 'test.sh'), 0o755)
    // the harness's setup: the guard hook and the MCP server
    expect(sb.run(['guard', 'install', '--for', 'claude-code']).code).toBe(0)
    writeFileSync(join(sb.repo, '.mcp.json'), JSON.stringify({ mcpServers: { keyrack: { command: 'keyrack', args: ['mcp'] } } }, null, 2))

    const server = JSON.parse(require('node:fs').readFileSync(join(sb.repo, '.mcp.json'), 'utf8')).mcpServers.keyrack
    transport = new StdioClientTransport({
      command: server.command,
      args: server.args,
      cwd: sb.repo,
      env: { ...sb.env(), PATH: `${dirname(BIN)}:${process.env.PATH}` },
      stderr: 'pipe',
    })
    client = new Client({ name: 'agent-under-test', version: '1.0.0' })
    await client.connect(transport)
  })

  test('lists exactly two tools, neither of which unlocks', async () => {
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(['keyrack_exec', 'keyrack_status'])
    for (const tool of tools) expect(`${tool.name} ${tool.description}`).not.toMatch(/\bunlock (the|a|your) key/i)
  })

  test('keyrack_status: states and the human\'s commands, never a value', async () => {
    const result = await client.callTool({ name: 'keyrack_status', arguments: {} })
    expect(result.isError).toBeFalsy()
    const text = (result.content as { text: string }[])[0]!.text
    expect(text).toContain('env test: ready')
    expect(text).toMatch(/API_TOKEN\s+granted/)
    expect(text).toMatch(/LOCKED_KEY\s+locked/)
    expect(text).toContain('ask a human to run `keyrack unlock --for repo --env prod`')
    expect(leaks(result)).toEqual([])
  })

  test('keyrack_exec: the repo\'s tests run with the keys; every form of every key is redacted', async () => {
    const result = await client.callTool({ name: 'keyrack_exec', arguments: { command: ['./test.sh'], env: 'test' } })
    expect(result.isError).toBeFalsy()
    const out = result.structuredContent as { exitCode: number; stdout: string; stderr: string }
    expect(out.exitCode).toBe(3)
    expect(out.stdout).toContain('token: [keyrack:API_TOKEN]')
    expect(out.stdout).toMatch(/basic: \w*\[keyrack:DB_PASSWORD\]/)
    expect(out.stdout).toContain('hex: [keyrack:API_TOKEN]')
    expect(out.stdout).toContain('"[keyrack:DB_PASSWORD]"')
    expect(out.stderr).toContain('stderr: [keyrack:DB_PASSWORD]')
    // the keys really reached the command (the digest of the real token)
    const sha = spawnSync('sh', ['-c', `printf %s '${SECRETS.API_TOKEN}' | sha256sum | cut -c1-8`], { encoding: 'utf8' }).stdout.trim()
    expect(out.stdout).toContain(`checked: ${sha}`)
    expect(leaks(result)).toEqual([])
  })

  test('keyrack_exec of a locked env: refused with the human\'s command, no secret', async () => {
    const result = await client.callTool({ name: 'keyrack_exec', arguments: { command: ['sh', '-c', 'echo "$LOCKED_KEY"'], env: 'prod' } })
    expect(result.isError).toBe(true)
    const text = (result.content as { text: string }[])[0]!.text
    expect(text).toContain('LOCKED_KEY')
    expect(text).toContain('ask a human to run `keyrack unlock --for repo --env prod`')
    expect(leaks(result)).toEqual([])
  })

  test('keyrack_exec: a timeout ends the command (and its children)', async () => {
    const result = await client.callTool({ name: 'keyrack_exec', arguments: { command: ['sh', '-c', 'sleep 30 & sleep 30; echo never'], env: 'test', timeout_seconds: 1 } })
    const out = result.structuredContent as { timedOut: boolean; stdout: string }
    expect(out.timedOut).toBe(true)
    expect(out.stdout).not.toContain('never')
  })

  test('bad arguments are tool errors, not crashes', async () => {
    for (const args of [{ command: 'npm test', env: 'test' }, { command: ['true'] }, { command: ['true'], env: 'test', timeout_seconds: 0 }]) {
      const result = await client.callTool({ name: 'keyrack_exec', arguments: args })
      expect(result.isError).toBe(true)
    }
  })

  test('the guard installed beside it blocks reading the keys directly', () => {
    const hook = (command: string) =>
      spawnSync('sh', ['-c', 'keyrack guard check'], {
        cwd: sb.repo,
        env: { ...sb.env(), PATH: `${dirname(BIN)}:${process.env.PATH}` },
        input: JSON.stringify({ hook_event_name: 'PreToolUse', cwd: sb.repo, tool_name: 'Bash', tool_input: { command } }),
        encoding: 'utf8',
      }).status
    expect(hook('cat ~/.rhachet/keyrack/direct.human.json')).toBe(2)
    expect(hook("python3 -c 'print(open(\"/proc/self/environ\").read())'")).toBe(2)
    expect(hook('./test.sh')).toBe(0)
  })

  test("every call is in the audit log, with a process chain that includes the agent", () => {
    const entries = JSON.parse(sb.run(['audit', '--json']).stdout) as { command: string; outcome: string; slugs: string[]; caller: { pid: number; chain: { pid: number }[] } }[]
    const execs = entries.filter((e) => e.command === 'mcp.keyrack_exec')
    const granted = execs.find((e) => e.outcome === 'granted')!
    expect(granted.slugs).toEqual(['acme.test.API_TOKEN', 'acme.test.DB_PASSWORD'])
    // the MCP server is the caller; its parent chain reaches this test process, the "agent"
    expect(granted.caller.chain.map((l) => l.pid)).toContain(process.pid)
    expect(execs.some((e) => e.outcome === 'refused' && e.slugs.includes('acme.prod.LOCKED_KEY'))).toBe(true)
    expect(entries.some((e) => e.command === 'mcp.keyrack_status')).toBe(false) // status reads no secret from a daemon here
    expect(sb.run(['audit', '--verify']).code).toBe(0)
    expect(leaks(entries)).toEqual([])
  })
})
