/**
 * The AWS CLI's shared config file (`~/.aws/config`, or $AWS_CONFIG_FILE): read as the CLI reads
 * it, and edited without disturbing anything keyrack did not write.
 *
 * The file belongs to the user and to every AWS tool they run, so an edit keeps every other byte
 * as it was — comments, blank lines, order, other profiles, line endings — and replaces or appends
 * only whole sections keyrack names. Writes are atomic (temp beside the real file, fsync, rename:
 * a symlinked config is written through to its target, keeping the link) and keep the file's
 * mode; an edit that would race another writer (the file changed since it was read) is refused
 * rather than merged blindly.
 *
 * Format (botocore's reader): `[default]`, `[profile NAME]`, `[sso-session NAME]`, `[services NAME]`
 * headers; `key = value` lines; an indented line continues the previous key (sub-sections such as
 * `s3 =`); whole-line comments start with `#` or `;`.
 */
import { realpathSync, statSync } from 'node:fs'
import type { Context } from '../context.ts'
import { KeyrackEnvironmentError, KeyrackVaultError } from '../domain/errors.ts'
import { printable } from '../domain/printable.ts'
import { writeFileAtomic } from '../runtime/fs-atomic.ts'
import { readFileGuarded, UnsafeFileError } from '../runtime/read-file.ts'
import { awsConfigPath } from './cli-tool.ts'

/** a config file that is a megabyte is not a config file */
const MAX_CONFIG_BYTES = 1024 * 1024

export interface ConfigSection {
  /** the header as written, normalised: `profile dev`, `sso-session acme`, `default` */
  header: string
  kind: 'default' | 'profile' | 'sso-session' | 'other'
  /** the profile or session name (`default` for the default profile) */
  name: string
  /** top-level `key = value` pairs (sub-section lines are kept as text, not parsed) */
  values: Record<string, string>
  /** line index of the header */
  start: number
  /** one past the section's last key or continuation line (trailing blanks and comments stay outside) */
  end: number
}

export interface AwsConfig {
  /** the file as its readers name it ($AWS_CONFIG_FILE or ~/.aws/config) */
  file: string
  /** the text as read ('' when the file does not exist) */
  text: string
  exists: boolean
  sections: ConfigSection[]
}

/** the config file, parsed; a missing file is an empty one */
export function readAwsConfig(ctx: Pick<Context, 'env'>): AwsConfig {
  const file = awsConfigPath(ctx)
  let bytes: Buffer | null
  try {
    bytes = readFileGuarded(file, { maxBytes: MAX_CONFIG_BYTES })
  } catch (error) {
    if (error instanceof UnsafeFileError)
      throw new KeyrackVaultError(`the AWS config file ${printable(file)} ${error.detail}`, ['it must be a regular text file: check `ls -l ~/.aws/config` (or $AWS_CONFIG_FILE)'])
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    throw new KeyrackVaultError(`the AWS config file ${printable(file)} cannot be read (${code})`, [`check its permissions: \`ls -l ${printable(file)}\``])
  }
  const text = bytes === null ? '' : bytes.toString('utf8')
  return { file, text, exists: bytes !== null, sections: parseSections(text) }
}

export function parseSections(text: string): ConfigSection[] {
  const lines = splitLines(text)
  const sections: ConfigSection[] = []
  let current: ConfigSection | null = null
  let lastKey: string | null = null
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r?\n$/, '')
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return
    const header = /^\[\s*([^\]]*?)\s*\]\s*$/.exec(trimmed)
    if (header && !/^\s/.test(line)) {
      const name = header[1]!.replace(/\s+/g, ' ')
      const kind = name === 'default' ? 'default' : name.startsWith('profile ') ? 'profile' : name.startsWith('sso-session ') ? 'sso-session' : 'other'
      current = { header: name, kind, name: kind === 'default' ? 'default' : kind === 'other' ? name : name.slice(name.indexOf(' ') + 1).trim(), values: {}, start: index, end: index + 1 }
      sections.push(current)
      lastKey = null
      return
    }
    if (!current) return
    current.end = index + 1
    if (/^\s/.test(line)) return // a continuation of `lastKey` (a sub-section): kept, not parsed
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line)
    if (kv) {
      lastKey = kv[1]!.trim()
      current.values[lastKey] = kv[2]!.trim()
    }
  })
  return sections
}

/** the lines of `text`, each with its own line ending (so joining them gives back every byte) */
const splitLines = (text: string): string[] => (text === '' ? [] : (text.match(/[^\n]*\n|[^\n]+$/g) ?? []))

export const findProfile = (config: AwsConfig, name: string): ConfigSection | undefined =>
  config.sections.find((s) => (name === 'default' ? s.kind === 'default' || (s.kind === 'profile' && s.name === 'default') : s.kind === 'profile' && s.name === name))

export const findSsoSession = (config: AwsConfig, name: string): ConfigSection | undefined => config.sections.find((s) => s.kind === 'sso-session' && s.name === name)

export interface SectionEdit {
  /** e.g. `profile acme.test.admin`, `sso-session acme` */
  header: string
  values: Record<string, string>
  /** a comment line written above a section keyrack appends */
  comment?: string
}

/**
 * The text with each named section replaced in place (same position, its key lines only) or,
 * when absent, appended at the end — every other byte untouched.
 */
export function editSections(text: string, edits: readonly SectionEdit[]): string {
  const lines = splitLines(text)
  const eol = text.includes('\r\n') ? '\r\n' : '\n'
  const render = (edit: SectionEdit) => [`[${edit.header}]`, ...Object.entries(edit.values).map(([k, v]) => `${k} = ${v}`)].map((l) => l + eol)
  const sections = parseSections(text)
  const appended: string[] = []
  // replace from the bottom up, so earlier line indexes stay valid
  const inPlace = edits
    .map((edit) => ({ edit, section: sections.find((s) => s.header === edit.header) }))
    .sort((a, b) => (b.section?.start ?? -1) - (a.section?.start ?? -1))
  for (const { edit, section } of inPlace) {
    if (section) lines.splice(section.start, section.end - section.start, ...render(edit))
    else appended.push(...(edit.comment ? [`# ${edit.comment}${eol}`] : []), ...render(edit), eol)
  }
  if (appended.length === 0) return lines.join('')
  appended.pop() // no blank line after the last appended section
  let head = lines.join('')
  if (head !== '' && !head.endsWith('\n')) head += eol
  if (head !== '' && !/(\r?\n){2}$/.test(head)) head += eol
  return head + appended.join('')
}

/**
 * Writes the edited config atomically. `read` is what the edit was computed from: when the file
 * changed since (another tool wrote it), nothing is written and the caller is told to try again.
 */
export function writeAwsConfig(read: AwsConfig, text: string): void {
  const now = readAwsConfigAt(read.file)
  if (now !== read.text)
    throw new KeyrackVaultError(`${printable(read.file)} changed while keyrack was editing it; nothing was written`, ['run the same command again'])
  // a symlinked config (dotfiles) is written through to its target, keeping the link
  const target = read.exists ? realpathSync(read.file) : read.file
  const mode = read.exists ? statSync(target).mode & 0o777 : 0o600
  try {
    writeFileAtomic(target, text, mode, { foreignDir: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    throw new KeyrackEnvironmentError(`cannot write ${printable(target)} (${code}); nothing was changed`, [`check that you can write it: \`ls -l ${printable(target)}\``])
  }
}

function readAwsConfigAt(file: string): string {
  const bytes = readFileGuarded(file, { maxBytes: MAX_CONFIG_BYTES })
  return bytes === null ? '' : bytes.toString('utf8')
}
