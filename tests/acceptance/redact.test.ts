/**
 * `keyrack exec` redaction and `keyrack policy`, through the compiled binary: under an agent (its
 * environment marker, or its name among the caller's parents) the child's stdout and stderr show
 * `[keyrack:KEY]` for every granted secret and its encodings; the owner's rule decides the default
 * and can refuse --no-redact; exit codes, signals and each stream's order pass through.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ensureBinary, killGroup, Sandbox, type RunResult } from '../helpers/harness.ts'

setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const TOKEN = 'sk-test-Zq8wX3vR7tY2uI9oP4aS'
const OTHER = 'other-secret-value-77f3a1'
const DIRECT = ['--vault', 'os.direct', '--mech', 'PERMANENT_VIA_REPLICA']
const MANIFEST = 'org: acme\nenv.test:\n  - API_TOKEN\n  - OTHER_KEY\n'
const AGENT = { CLAUDECODE: '1' }

/** every encoding the child prints below, as the child computes it */
const PRINT_ALL = [
  'printf "raw=%s\\n" "$API_TOKEN"',
  'printf "b64=%s\\n" "$(printf %s "$API_TOKEN" | base64 -w0)"',
  'printf "basic=%s\\n" "$(printf "user:%s" "$API_TOKEN" | base64 -w0)"',
  'printf "hex=%s\\n" "$(printf %s "$API_TOKEN" | od -An -tx1 | tr -d " \\n")"',
  `python3 -c 'import json, os, urllib.parse; print("json=" + json.dumps({"t": os.environ["API_TOKEN"]})); print("url=" + urllib.parse.quote(os.environ["API_TOKEN"], safe=""))'`,
  'printf "err=%s\\n" "$OTHER_KEY" >&2',
].join('; ')

function forms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex'), encodeURIComponent(secret)]
}
function expectNoSecret(r: RunResult): void {
  for (const secret of [TOKEN, OTHER]) for (const form of forms(secret)) expect({ form, leaked: (r.stdout + r.stderr).includes(form) }).toEqual({ form, leaked: false })
}

describe('exec redaction', () => {
  const sb = new Sandbox('kr-redact')
  afterAll(() => sb.cleanup())
  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
    expect(sb.set('API_TOKEN', 'test', TOKEN, DIRECT).code).toBe(0)
    expect(sb.set('OTHER_KEY', 'test', OTHER, DIRECT).code).toBe(0)
  })
  const exec = (script: string, extra: string[] = [], env: Record<string, string> = {}) =>
    sb.run(['exec', '--for', 'repo', '--env', 'test', ...extra, '--', 'sh', '-c', script], { env })

  test('under an agent (CLAUDECODE), every form of every secret is replaced, on stdout and stderr', () => {
    const r = exec(PRINT_ALL, [], AGENT)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('raw=[keyrack:API_TOKEN]\n')
    expect(r.stdout).toContain('b64=[keyrack:API_TOKEN]\n')
    expect(r.stdout).toMatch(/basic=\w*\[keyrack:API_TOKEN\]/)
    expect(r.stdout).toContain('hex=[keyrack:API_TOKEN]\n')
    expect(r.stdout).toContain('json={"t": "[keyrack:API_TOKEN]"}\n')
    expect(r.stdout).toContain('url=[keyrack:API_TOKEN]\n')
    expect(r.stderr).toContain('err=[keyrack:OTHER_KEY]\n')
    expect(r.stderr).toContain('keyrack: the command\'s output is redacted (under claude-code (env CLAUDECODE))')
    expectNoSecret(r)
  })

  test('not under an agent, the default rule leaves the output as it is', () => {
    const r = exec('printf %s "$API_TOKEN"')
    expect(r).toMatchObject({ code: 0, stdout: TOKEN })
    expect(r.stderr).not.toContain('redacted')
  })

  test('--redact turns it on anywhere; --no-redact turns it off under the default rule', () => {
    expect(exec('printf %s "$API_TOKEN"', ['--redact']).stdout).toBe('[keyrack:API_TOKEN]')
    expect(exec('printf %s "$API_TOKEN"', ['--no-redact'], AGENT).stdout).toBe(TOKEN)
  })

  test('other agents are known by their markers (Codex, Gemini CLI, Cursor, KEYRACK_AGENT) …', () => {
    for (const env of [{ CODEX_SANDBOX: 'seatbelt' }, { GEMINI_CLI: '1' }, { CURSOR_AGENT: '1' }, { KEYRACK_AGENT: '1' }] as Record<string, string>[])
      expect({ env, stdout: exec('printf %s "$API_TOKEN"', [], env).stdout }).toEqual({ env, stdout: '[keyrack:API_TOKEN]' })
    // a marker switched off is no marker
    expect(exec('printf %s "$API_TOKEN"', [], { KEYRACK_AGENT: '0' }).stdout).toBe(TOKEN)
  })

  test('… and a harness that sets no marker (Aider) by its name among the parents', () => {
    // a program named `aider` runs the command, as the real one runs its shell commands
    const bin = join(sb.dir, 'agent-bin')
    mkdirSync(bin, { recursive: true })
    writeFileSync(join(bin, 'aider'), `#!/bin/sh\n"${BIN}" exec --for repo --env test -- sh -c 'printf %s "$API_TOKEN"'\nexit $?\n`)
    chmodSync(join(bin, 'aider'), 0o755)
    const r = sb.sh(`"${join(bin, 'aider')}"`)
    expect(r.stdout).toBe('[keyrack:API_TOKEN]')
    expect(r.stderr).toContain('under aider (process aider')
  })

  test('a secret split across separate writes is still replaced', () => {
    const r = exec('printf %s "$API_TOKEN" | head -c 7; sleep 0.3; printf %s "$API_TOKEN" | tail -c +8; echo', [], AGENT)
    expect(r.stdout).toBe('[keyrack:API_TOKEN]\n')
  })

  test('each stream keeps its order, and large output passes whole', () => {
    const r = exec('i=0; while [ $i -lt 20000 ]; do echo "line $i $API_TOKEN"; i=$((i+1)); done', [], AGENT)
    const lines = r.stdout.split('\n')
    expect(lines.length).toBe(20001)
    for (const i of [0, 1, 9999, 19999]) expect(lines[i]).toBe(`line ${i} [keyrack:API_TOKEN]`)
    expect(lines.every((line, i) => line === '' || line === `line ${i} [keyrack:API_TOKEN]`)).toBe(true)
  })

  test('exit codes and signals pass through as without redaction', async () => {
    expect(exec('echo "$API_TOKEN"; exit 42', [], AGENT).code).toBe(42)
    const killed = exec('echo "$API_TOKEN"; kill -TERM $$', [], AGENT)
    expect(killed.signal === 'SIGTERM' || killed.code === 143).toBe(true)
    expect(killed.stdout).toBe('[keyrack:API_TOKEN]\n') // written before the signal, still redacted
    // a signal to keyrack reaches the child; what it prints on the way out is redacted too
    const ready = join(sb.dir, 'redact-ready')
    // its own process group: a late ready file under load leaves no looping `sh` behind
    const { proc, done } = sb.spawn(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', `trap 'echo "bye $API_TOKEN"; exit 7' TERM; touch "${ready}"; while :; do sleep 0.05; done`], { env: AGENT, timeoutMs: 10_000, detached: true })
    try {
      for (let i = 0; i < 200 && !existsSync(ready); i++) await Bun.sleep(25)
      expect(existsSync(ready)).toBe(true)
      proc.kill('SIGTERM')
      const r = await done
      expect(r).toMatchObject({ code: 7, stdout: 'bye [keyrack:API_TOKEN]\n' })
    } finally {
      killGroup(proc)
      await done
    }
  })

  test('a reader that stops early (| head) ends the command as a broken pipe would', () => {
    const r = sb.sh(`"$KEYRACK" exec --for repo --env test --redact -- sh -c 'while :; do echo "$API_TOKEN"; done' | head -n 3`)
    expect(r.stdout).toBe('[keyrack:API_TOKEN]\n'.repeat(3))
  })

  test('a secret shorter than 4 bytes is named, not redacted', () => {
    sb.writeRepoManifest(`${MANIFEST}  - PIN\n`)
    expect(sb.set('PIN', 'test', '123', DIRECT).code).toBe(0)
    const r = exec('printf "%s %s" "$PIN" "$API_TOKEN"', [], AGENT)
    expect(r.stdout).toBe('123 [keyrack:API_TOKEN]')
    expect(r.stderr).toContain('keyrack: warning: PIN is shorter than 4 bytes')
    sb.writeRepoManifest(MANIFEST)
  })
})

describe('keyrack policy', () => {
  const sb = new Sandbox('kr-policy')
  afterAll(() => sb.cleanup())
  const PASS = 'correct horse battery staple'
  beforeAll(() => {
    expect(sb.run(['init', '--passphrase-fd', '3'], { fds: { 3: `${PASS}\n` } }).code).toBe(0)
    sb.writeRepoManifest(MANIFEST)
    expect(sb.run(['set', '--key', 'API_TOKEN', '--env', 'test', ...DIRECT, '--secret-stdin', '--passphrase-fd', '3'], { input: TOKEN, fds: { 3: `${PASS}\n` } }).code).toBe(0)
  })
  const exec = (extra: string[], env: Record<string, string> = {}) =>
    sb.run(['exec', '--key', 'API_TOKEN', '--env', 'test', ...extra, '--', 'sh', '-c', 'printf %s "$API_TOKEN"'], { env })

  test('shows the defaults', () => {
    expect(sb.run(['policy'])).toMatchObject({ code: 0, stdout: 'redact        agents  (default)\nagent-values  allow   (default)\n' })
    expect(JSON.parse(sb.run(['policy', '--json']).stdout)).toEqual({ owner: 'human', policy: { redact: 'agents', 'agent-values': 'allow' }, stored: {} })
  })

  test("changing a rule needs the owner's passphrase (an agent has none)", () => {
    const r = sb.run(['policy', '--redact', 'always'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('is passphrase-protected and no passphrase can be asked for here')
    expect(sb.run(['policy', '--redact', 'always', '--passphrase-fd', '3'], { fds: { 3: 'wrong\n' } }).code).toBe(8)
    expect(JSON.parse(sb.run(['policy', '--json']).stdout).stored).toEqual({})
  })

  test('redact: always redacts everywhere and refuses --no-redact (exit 10), before any key is read', () => {
    expect(sb.run(['policy', '--redact', 'always', '--passphrase-fd', '3'], { fds: { 3: `${PASS}\n` } }).code).toBe(0)
    expect(exec([]).stdout).toBe('[keyrack:API_TOKEN]')
    const refused = exec(['--no-redact'], AGENT)
    expect(refused).toMatchObject({ code: 10, stdout: '' })
    expect(refused.stderr).toContain("keyrack: error: --no-redact is refused: the owner's policy says `redact: always`")
    expect(refused.stderr).toContain('keyrack: hint: a human can change the rule: `keyrack policy --redact agents`')
    // the rule lives in the encrypted host manifest; the inventory mirrors it without any secret
    const inventory = JSON.parse(readFileSync(join(sb.keyrackHome, 'inventory.human.json'), 'utf8'))
    expect(inventory.policy).toEqual({ redact: 'always' })
  })

  test('redact: never leaves output alone even under an agent; --redact still works', () => {
    expect(sb.run(['policy', '--redact', 'never', '--passphrase-fd', '3'], { fds: { 3: `${PASS}\n` } }).code).toBe(0)
    expect(exec([], AGENT).stdout).toBe(TOKEN)
    expect(exec(['--redact'], AGENT).stdout).toBe('[keyrack:API_TOKEN]')
  })

  test('a bad rule is a usage error naming the choices', () => {
    const r = sb.run(['policy', '--redact', 'sometimes'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--redact must be one of: always, agents, never')
    expect(sb.run(['policy', '--agent-values', 'maybe']).stderr).toContain('--agent-values must be one of: allow, deny')
  })
})
