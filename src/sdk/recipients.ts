/**
 * recipients: who can decrypt an owner's files. The owner's own key (owner.<owner>.json) plus
 * optional backup keys — an age key kept offline, or a second ssh key — so that losing the
 * owner's identity or passphrase does not lose the keys (SPEC §6, issue 3).
 *
 * The list lives in the host manifest. Changing it re-encrypts the host manifest and every
 * os.secure file of the owner, all or nothing (./reencrypt.ts), under the owner lock.
 */
import { readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { paths, type Context } from '../context.ts'
import { KeyrackUsageError } from '../domain/errors.ts'
import { DEFAULT_OWNER } from '../domain/names.ts'
import { withLock } from '../runtime/lock.ts'
import { validateRecipients } from './init.ts'
import { reencryptOwnerFiles } from './reencrypt.ts'
import { OwnerSession } from './session.ts'

export interface RecipientInfo {
  /** `age1…` or `ssh-ed25519 AAAA…` (without the comment) */
  recipient: string
  type: 'age' | 'ssh-ed25519'
  /** the owner's own key: it cannot be removed */
  own: boolean
}

export interface RecipientsResult {
  owner: string
  recipients: RecipientInfo[]
}

export interface RecipientsChangeInput {
  /** public keys (`age1…`, `ssh-ed25519 AAAA… comment`), or paths to files of them (e.g. `backup.pub`) */
  recipients: string[]
}

export interface RecipientsChangeResult extends RecipientsResult {
  /** the recipients actually added or removed (already-present ones are not re-added) */
  changed: string[]
  /** the files re-encrypted (host manifest and os.secure files); empty when nothing changed */
  reencrypted: string[]
}

export async function listRecipients(ctx: Context): Promise<RecipientsResult> {
  const session = new OwnerSession(ctx)
  const manifest = await session.manifest()
  return describe(ctx, session, manifest.owner.recipients)
}

export async function addRecipients(ctx: Context, input: RecipientsChangeInput): Promise<RecipientsChangeResult> {
  const wanted = await normalizeInputs(ctx, input.recipients, 'add')
  return change(ctx, (current) => {
    const have = new Set(current)
    const added = [...new Set(wanted)].filter((r) => !have.has(r))
    return { next: [...current, ...added], changed: added }
  })
}

export async function removeRecipients(ctx: Context, input: RecipientsChangeInput): Promise<RecipientsChangeResult> {
  const unwanted = await normalizeInputs(ctx, input.recipients, 'remove')
  const session = new OwnerSession(ctx)
  const own = canonical(session.config().recipient)
  if (unwanted.includes(own))
    throw new KeyrackUsageError(`that is the own key of owner '${ctx.owner}' (in ${paths.ownerConfig(ctx)}); keyrack will not remove it`, [
      `only backup keys can be removed; see them with \`keyrack recipients list${ownerFlag(ctx)}\``,
    ])
  return change(ctx, (current) => {
    const missing = unwanted.filter((r) => !current.includes(r))
    if (missing.length > 0)
      throw new KeyrackUsageError(`${missing.length === 1 ? 'that key is' : `${missing.length} of those keys are`} not a recipient of owner '${ctx.owner}'; nothing was changed`, [
        `see the recipients: \`keyrack recipients list${ownerFlag(ctx)}\``,
      ])
    return { next: current.filter((r) => !unwanted.includes(r)), changed: [...new Set(unwanted)] }
  }, session)
}

async function change(
  ctx: Context,
  plan: (current: string[]) => { next: string[]; changed: string[] },
  session = new OwnerSession(ctx),
): Promise<RecipientsChangeResult> {
  // open the identity before taking the lock, so a human typing a passphrase does not hold it
  const identity = await session.identity()
  return withLock(paths.lock(ctx), async () => {
    // read inside the lock: a concurrent `set` may have just rewritten the manifest
    const manifest = await session.manifest()
    const current = manifest.owner.recipients.map(canonical)
    const { next, changed } = plan(current)
    if (changed.length === 0) return { ...describe(ctx, session, manifest.owner.recipients), changed, reencrypted: [] }
    const reencrypted = await reencryptOwnerFiles(ctx, identity, manifest, next)
    return { ...describe(ctx, session, next), changed, reencrypted }
  })
}

function describe(ctx: Context, session: OwnerSession, recipients: readonly string[]): RecipientsResult {
  const own = canonical(session.config().recipient)
  return {
    owner: ctx.owner,
    recipients: recipients.map((recipient) => ({
      recipient,
      type: recipient.startsWith('age1') ? 'age' : 'ssh-ed25519',
      own: canonical(recipient) === own,
    })),
  }
}

/** the comparable form: `type base64` for ssh keys (a comment is not part of the key) */
function canonical(recipient: string): string {
  const r = recipient.trim()
  return r.startsWith('ssh-') ? r.split(/\s+/).slice(0, 2).join(' ') : r
}

const ownerFlag = (ctx: Context): string => (ctx.owner === DEFAULT_OWNER ? '' : ` --owner ${ctx.owner}`)

/**
 * Accepts keys, or files of keys (one per line, `#` comments), like `age -R`. A file holding a
 * private key is refused with the command that prints its public half — never read further.
 */
async function normalizeInputs(ctx: Context, inputs: string[], verb: 'add' | 'remove'): Promise<string[]> {
  if (inputs.length === 0)
    throw new KeyrackUsageError(`say which key to ${verb}`, [
      `keyrack recipients ${verb} age1…${ownerFlag(ctx)}   # or "ssh-ed25519 AAAA…", or a file such as backup.pub`,
    ])
  const keys: string[] = []
  for (const input of inputs) {
    const text = input.trim()
    if (text.startsWith('age1') || text.startsWith('ssh-') || text.startsWith('sk-') || text.startsWith('ecdsa-')) {
      keys.push(text)
      continue
    }
    const file = resolve(ctx.cwd, text)
    if (!isFile(file)) {
      keys.push(text) // validateRecipients says what a recipient looks like
      continue
    }
    const content = readFileSync(file, 'utf8')
    if (/AGE-SECRET-KEY-|PRIVATE KEY-----/.test(content))
      throw new KeyrackUsageError(`${file} holds a private key; a recipient is the public half`, [
        content.includes('AGE-SECRET-KEY-') ? `pass the public key: \`keyrack recipients ${verb} "$(age-keygen -y ${text})"\`` : `pass the .pub file: \`keyrack recipients ${verb} ${text}.pub\``,
      ])
    keys.push(...content.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')))
  }
  return (await validateRecipients(keys)).map(canonical)
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
