/**
 * `keyrack guard install --for <harness>`: adds (or with `remove`, takes out) the guard hook in the
 * project's settings file for that harness, keeping every other setting as it is. Idempotent: a
 * second install changes nothing. A settings file that is not a JSON object is never overwritten.
 *
 *   claude-code  .claude/settings.json  hooks.PreToolUse  [{ matcher: "*", hooks: [{ type: "command", command }] }]
 *   gemini-cli   .gemini/settings.json  hooks.BeforeTool  [{ matcher: ".*", hooks: [{ type: "command", command, name }] }]
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { KeyrackManifestInvalidError } from '../domain/errors.ts'
import { writeFileAtomic } from '../runtime/fs-atomic.ts'

export const HARNESSES = {
  'claude-code': { file: join('.claude', 'settings.json'), event: 'PreToolUse', matcher: '*' },
  'gemini-cli': { file: join('.gemini', 'settings.json'), event: 'BeforeTool', matcher: '.*' },
} as const
export type Harness = keyof typeof HARNESSES

/** the hook command keyrack writes; an existing hook running `keyrack guard check` counts as ours */
export const GUARD_COMMAND = 'keyrack guard check'
const OURS = /(^|[/\s])keyrack guard check(\s|$)/

export interface InstallResult {
  file: string
  harness: Harness
  action: 'added' | 'already-present' | 'removed' | 'not-present'
}

type Json = Record<string, unknown>
interface HookGroup {
  matcher?: unknown
  hooks?: unknown
}

export function installGuardHook(input: { worksite: string; harness: Harness; remove?: boolean; command?: string }): InstallResult {
  const spec = HARNESSES[input.harness]
  const file = join(input.worksite, spec.file)
  const settings = readSettings(file)
  const hooks = (settings.hooks ?? {}) as Json
  if (typeof hooks !== 'object' || hooks === null || Array.isArray(hooks)) throw notAnObject(file, '`hooks`')
  const groups = (hooks[spec.event] ?? []) as HookGroup[]
  if (!Array.isArray(groups)) throw notAnObject(file, `\`hooks.${spec.event}\``)
  const isOurs = (h: unknown) => !!h && typeof h === 'object' && typeof (h as Json).command === 'string' && OURS.test((h as Json).command as string)
  const present = groups.some((g) => Array.isArray(g?.hooks) && g.hooks.some(isOurs))

  if (input.remove) {
    if (!present) return { file, harness: input.harness, action: 'not-present' }
    const kept = groups
      .map((g) => (Array.isArray(g?.hooks) ? { ...g, hooks: g.hooks.filter((h) => !isOurs(h)) } : g))
      .filter((g) => !Array.isArray(g?.hooks) || g.hooks.length > 0)
    const nextHooks: Json = { ...hooks, [spec.event]: kept }
    if (kept.length === 0) delete nextHooks[spec.event]
    const next: Json = { ...settings, hooks: nextHooks }
    if (Object.keys(nextHooks).length === 0) delete next.hooks
    writeSettings(file, next)
    return { file, harness: input.harness, action: 'removed' }
  }
  if (present) return { file, harness: input.harness, action: 'already-present' }
  const hook: Json = { type: 'command', command: input.command ?? GUARD_COMMAND }
  if (input.harness === 'gemini-cli') hook.name = 'keyrack-guard'
  writeSettings(file, { ...settings, hooks: { ...hooks, [spec.event]: [...groups, { matcher: spec.matcher, hooks: [hook] }] } })
  return { file, harness: input.harness, action: 'added' }
}

function readSettings(file: string): Json {
  if (!existsSync(file)) return {}
  const text = readFileSync(file, 'utf8')
  let data: unknown
  try {
    data = text.trim() === '' ? {} : JSON.parse(text)
  } catch {
    throw new KeyrackManifestInvalidError(`${file} is not valid JSON, so keyrack will not rewrite it`, [
      `fix the JSON (\`python3 -m json.tool ${file}\` shows where it breaks), then run the command again`,
    ], file)
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw notAnObject(file, 'the file')
  return data as Json
}

function notAnObject(file: string, what: string): KeyrackManifestInvalidError {
  return new KeyrackManifestInvalidError(`${what} in ${file} is not what the harness expects (a JSON object with arrays of hook groups), so keyrack will not rewrite it`, [
    `fix ${file} by hand, then run the command again`,
  ], file)
}

/**
 * The shared atomic write (temp beside it, fsync, rename, directory fsync; a full disk says so): a
 * reader sees the old settings or the new, never half. The mode is kept; the harness's directory is
 * the project's, so it is made with the usual mode and otherwise left alone.
 */
function writeSettings(file: string, settings: Json): void {
  mkdirSync(dirname(file), { recursive: true })
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o644
  writeFileAtomic(file, `${JSON.stringify(settings, null, 2)}\n`, mode, { foreignDir: true })
}
