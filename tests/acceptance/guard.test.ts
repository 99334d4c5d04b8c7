/**
 * `keyrack guard` through the compiled binary: `guard install` edits the project's agent settings
 * (idempotent, every other setting kept, an unparseable file refused, `--remove` undoes it), and the
 * installed hook command, run as the harness runs it, blocks (exit 2, reason on stderr) and allows.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { BIN, ensureBinary, Sandbox } from '../helpers/harness.ts'

setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

const EXISTING = {
  permissions: { allow: ['Bash(npm test)'], deny: ['Read(./secrets/**)'] },
  env: { FOO: 'bar' },
  hooks: {
    PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: './scripts/lint-hook.sh' }] }],
    PostToolUse: [{ matcher: 'Write', hooks: [{ type: 'command', command: 'prettier --write' }] }],
  },
}

describe('keyrack guard install', () => {
  const sb = new Sandbox('kr-guard')
  afterAll(() => sb.cleanup())
  const settings = () => join(sb.repo, '.claude', 'settings.json')
  const read = () => JSON.parse(readFileSync(settings(), 'utf8'))

  test('adds the hook to an existing settings.json, keeping every other setting', () => {
    mkdirSync(dirname(settings()), { recursive: true })
    writeFileSync(settings(), JSON.stringify(EXISTING, null, 2))
    const r = sb.run(['guard', 'install', '--for', 'claude-code'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`keyrack: added the guard hook (\`keyrack guard check\`) to ${settings()}`)
    const after = read()
    expect(after.permissions).toEqual(EXISTING.permissions)
    expect(after.env).toEqual(EXISTING.env)
    expect(after.hooks.PostToolUse).toEqual(EXISTING.hooks.PostToolUse)
    expect(after.hooks.PreToolUse).toEqual([...EXISTING.hooks.PreToolUse, { matcher: '*', hooks: [{ type: 'command', command: 'keyrack guard check' }] }])
  })

  test('a second install changes nothing', () => {
    const before = readFileSync(settings(), 'utf8')
    const r = sb.run(['guard', 'install', '--for', 'claude-code'])
    expect(r).toMatchObject({ code: 0 })
    expect(r.stderr).toContain('already in')
    expect(readFileSync(settings(), 'utf8')).toBe(before)
  })

  test('the installed hook, run as Claude Code runs it, blocks and allows', () => {
    const [group] = read().hooks.PreToolUse.slice(-1)
    const command = group.hooks[0].command as string
    const hookEnv = { ...sb.env(), PATH: `${dirname(BIN)}:${process.env.PATH}` }
    const call = (input: object) => spawnSync('sh', ['-c', command], { cwd: sb.repo, env: hookEnv, input: JSON.stringify(input), encoding: 'utf8' })
    const base = { session_id: 's', transcript_path: '/dev/null', cwd: sb.repo, hook_event_name: 'PreToolUse', permission_mode: 'default' }
    const blocked = call({ ...base, tool_name: 'Bash', tool_input: { command: "cat ~/.aws/cred''entials" } })
    expect(blocked.status).toBe(2)
    expect(blocked.stderr).toContain('keyrack guard blocked this call: it reads AWS credentials')
    expect(blocked.stdout).toBe('')
    const allowed = call({ ...base, tool_name: 'Bash', tool_input: { command: 'npm test' } })
    expect({ status: allowed.status, stdout: allowed.stdout, stderr: allowed.stderr }).toEqual({ status: 0, stdout: '', stderr: '' })
    // Gemini CLI's BeforeTool answers in JSON on stdout
    const gemini = call({ ...base, hook_event_name: 'BeforeTool', tool_name: 'read_file', tool_input: { file_path: 'src/x.ts' } })
    expect({ status: gemini.status, stdout: gemini.stdout }).toEqual({ status: 0, stdout: '{}\n' })
    // what it cannot read, it blocks
    const garbage = spawnSync('sh', ['-c', command], { cwd: sb.repo, env: hookEnv, input: 'not json', encoding: 'utf8' })
    expect(garbage.status).toBe(2)
  })

  test('--remove takes out only the guard, leaving the settings as they were', () => {
    const r = sb.run(['guard', 'install', '--for', 'claude-code', '--remove'])
    expect(r.code).toBe(0)
    expect(read()).toEqual(EXISTING)
    expect(sb.run(['guard', 'install', '--for', 'claude-code', '--remove']).stderr).toContain('no guard hook in')
  })

  test('a settings file that is not JSON is never overwritten', () => {
    writeFileSync(settings(), '{ "permissions": { // a comment\n')
    const r = sb.run(['guard', 'install', '--for', 'claude-code'])
    expect(r.code).toBe(7)
    expect(r.stderr).toContain('is not valid JSON, so keyrack will not rewrite it')
    expect(readFileSync(settings(), 'utf8')).toBe('{ "permissions": { // a comment\n')
    writeFileSync(settings(), '[1, 2]')
    expect(sb.run(['guard', 'install', '--for', 'claude-code']).code).toBe(7)
  })

  test('a new settings file, for Gemini CLI', () => {
    const r = sb.run(['guard', 'install', '--for', 'gemini-cli'])
    expect(r.code).toBe(0)
    expect(JSON.parse(readFileSync(join(sb.repo, '.gemini', 'settings.json'), 'utf8'))).toEqual({
      hooks: { BeforeTool: [{ matcher: '.*', hooks: [{ type: 'command', command: 'keyrack guard check', name: 'keyrack-guard' }] }] },
    })
  })

  test('usage: an unknown harness, and outside a repository', () => {
    const r = sb.run(['guard', 'install', '--for', 'vim'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--for must be one of: claude-code, gemini-cli')
    const outside = join(sb.dir, 'not-a-repo')
    mkdirSync(outside, { recursive: true })
    expect(sb.run(['guard', 'install', '--for', 'claude-code'], { cwd: outside }).code).toBe(2)
  })
})
