import { defineCommand } from 'citty'
import { closeSync, constants, readSync } from 'node:fs'
import { basename } from 'node:path'
import { currentSize, openAuditFile } from '../../audit/log.ts'
import { parseDuration } from '../../domain/duration.ts'
import { KeyrackAuditTamperedError } from '../../domain/errors.ts'
import { parseSlug } from '../../domain/names.ts'
import { filesOf, matches, readAudit, verify, type AuditEntry, type AuditQuery } from '../../sdk/audit.ts'
import { table } from '../render.ts'
import { printable } from '../../domain/printable.ts'
import { action, say, writeStdout } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'audit',
    description:
      "the owner's audit log: every get, exec, source, unlock, relock, set and del, and every refusal, with the\ncaller's process chain (never a secret); --verify checks its hash chain\n\n" +
      'examples:\n  keyrack audit\n  keyrack audit --since 1h --key XAI_API_KEY\n  keyrack audit --json\n  keyrack audit --follow\n  keyrack audit --verify',
  },
  args: {
    since: { type: 'string', description: 'only lines from this long ago on, e.g. 1h, 30m, 7d', valueHint: 'duration' },
    key: { type: 'string', description: 'only lines naming this key (or slug)', valueHint: 'KEY' },
    json: { type: 'boolean', description: 'print JSON (one entry per line with --follow)' },
    follow: { type: 'boolean', description: 'keep printing new lines as they are written (Ctrl-C ends)' },
    verify: { type: 'boolean', description: 'check that the log is the one keyrack wrote: not edited, reordered or cut (exit 11 if not)' },
    ...ownerArgs,
  },
  run: action(async (args) => {
    const ctx = cliContext(args)
    if (args.verify) {
      const result = verify(ctx)
      if (!result.ok) {
        const shown = result.problems.slice(0, 20).map((p) => `${p.file}:${p.line}: ${p.problem}`)
        throw new KeyrackAuditTamperedError(`the audit log of owner '${ctx.owner}' is not the one keyrack wrote:\n${shown.join('\n')}`, [
          `keep a copy of ${filesOf(ctx).log} for inspection; keyrack appends to it as it is`,
        ])
      }
      if (result.lines === 0) return say(`the audit log of owner '${ctx.owner}' is empty`)
      const rotated = result.firstSeq !== null && result.firstSeq > 1 ? ` (lines before seq ${result.firstSeq} were rotated away)` : ''
      return say(`audit log verified: ${result.lines} lines, seq ${result.firstSeq}–${result.lastSeq}, ${result.files.length} file${result.files.length === 1 ? '' : 's'}${rotated}`)
    }
    const query: AuditQuery = {
      ...(args.since ? { since: ctx.now() - parseDuration(args.since, '--since') } : {}),
      ...(args.key ? { key: args.key } : {}),
    }
    const entries = readAudit(ctx, query)
    if (args.follow) {
      if (!args.json) await writeStdout(followLine(HEAD))
      for (const entry of entries) await print(entry, args.json === true)
      return follow(ctx, query, args.json === true)
    }
    if (args.json) return writeStdout(`${JSON.stringify(entries, null, 2)}\n`)
    if (entries.length === 0) return say(`no audit lines for owner '${ctx.owner}'${args.since || args.key ? ' that match' : ''}`)
    await writeStdout(table(HEAD, entries.map(row)))
  }),
})

const HEAD = ['TIME', 'COMMAND', 'OUTCOME', 'KEYS', 'CALLER', 'REASON']

function row(e: AuditEntry): string[] {
  const keys = e.slugs.map((s) => {
    try {
      return parseSlug(s).key
    } catch {
      return s
    }
  })
  const caller = [`${e.caller.pid ?? '?'} ${e.caller.exe ? basename(e.caller.exe) : '?'}`, ...e.caller.chain.slice(0, 3).map((l) => l.name ?? (l.exe ? basename(l.exe) : String(l.pid)))].join(' ← ')
  const reason = e.reason ? (e.reason.length > 60 ? `${e.reason.slice(0, 59)}…` : e.reason) : ''
  return [e.time.replace('T', ' ').slice(0, 19), e.command, e.outcome, keys.join(',') || '-', caller, reason]
}

/** --follow cannot size columns to lines it has not seen: fixed widths (a longer cell pushes its row only) */
const FOLLOW_WIDTHS = [19, 16, 8, 24, 40]
const followLine = (cells: string[]) => cells.map((c, i) => printable(c).padEnd(FOLLOW_WIDTHS[i] ?? 0)).join('  ').trimEnd() + '\n'

async function print(entry: AuditEntry, json: boolean): Promise<void> {
  await writeStdout(json ? `${JSON.stringify(entry)}\n` : followLine(row(entry)))
}

/** prints lines appended from now on: polls the current file, and starts over on a new one after rotation */
async function follow(ctx: ReturnType<typeof cliContext>, query: AuditQuery, json: boolean): Promise<void> {
  const files = filesOf(ctx)
  let at = currentSize(files)
  let rest = ''
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const now = currentSize(files)
    if (!now) continue
    const from = at && now.ino === at.ino && now.size >= at.size ? at.size : 0
    if (now.size > from) {
      const fd = openAuditFile(files.log, constants.O_RDONLY)
      const buf = Buffer.alloc(now.size - from)
      readSync(fd, buf, 0, buf.length, from)
      closeSync(fd)
      const text = rest + buf.toString('utf8')
      const lines = text.split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as AuditEntry
          if (matches(entry, query)) await print(entry, json)
        } catch {}
      }
    }
    at = now
  }
}
