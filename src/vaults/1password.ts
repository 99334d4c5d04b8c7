/**
 * 1password: keys kept as items in the user's 1Password account, reached through the 1Password
 * CLI (`op`). keyrack records only the item's secret reference (`op://vault/item/field`, the
 * exid) in the host manifest; the secret is read with `op read` at each unlock and set.
 *
 *   set --exid op://Private/xai/credential --mech PERMANENT_VIA_REFERENCE
 *         points at an item the user already has: keyrack checks it resolves, records the reference
 *   set --mech PERMANENT_VIA_REPLICA (the secret typed, or on --secret-stdin)
 *         creates an "API Credential" item tagged `keyrack` (`op item create -`, the item's JSON
 *         template on op's stdin: never a value in argv) and records the reference to it
 *   del   deletes an item keyrack created for that very key; an item it was pointed at is only
 *         forgotten — it belongs to the user
 *
 * Signing in: every operation first asks `op whoami`. Signed out, on a terminal keyrack runs
 * `op signin` there, once for the whole operation however many 1Password keys it reads — op
 * asks for the account password itself, so keyrack never sees it (SPEC §9: a transient vault
 * credential). The session op hands back (`export OP_SESSION_<id>="…"`, what `eval $(op signin)`
 * would run) is parsed, never evaluated, kept in this process's memory only and given to the
 * following `op` calls through their environment — never argv, never a file, never the daemon —
 * and ended (`op signout`) when the operation is over. With the desktop-app integration, op
 * prints no session and the app authorizes the calls. Without a terminal keyrack stops with the
 * command to run first: `eval "$(op signin)"`.
 *
 * Scope: the owner may list the 1Password vaults keyrack may read (`keyrack policy --scope
 * 1password=Dev,Shared`); a reference into any other vault is refused before `op` is run, and
 * new items are created in the first one listed.
 */
import type { Context, Env } from '../context.ts'
import { KeyrackNoTerminalError, KeyrackPolicyError, KeyrackUsageError, KeyrackVaultError } from '../domain/errors.ts'
import { hints } from '../domain/hints.ts'
import { parseSlug } from '../domain/names.ts'
import { printable, shellWord } from '../domain/printable.ts'
import type { SpawnResult, ToolInfo } from '../ports.ts'
import type { BatchVault, LockableVault, VaultKeyRef, VaultSession } from './vault.ts'

const ID = '1password'

const OP: ToolInfo = {
  name: 'op',
  install: { darwin: 'brew install 1password-cli', default: 'https://developer.1password.com/docs/cli/get-started/' },
  purpose: 'vault 1password',
}

/** `op read` and friends answer in well under a second; a slow network gets a minute */
const OP_TIMEOUT_MS = 60_000
/** a human types the account password (or approves in the app) */
const SIGNIN_TIMEOUT_MS = 5 * 60_000
/** at most this many `op` processes at once: 1Password rate-limits, and each op is a whole process */
const CONCURRENT_READS = 4
/** the tag on every item keyrack creates, so they are easy to find (and to tell from the user's own) */
const TAG = 'keyrack'
/** the field keyrack's items keep the secret in (an API Credential's own secret field) */
const FIELD = 'credential'
/** how to get a reference, for messages */
const COPY_REFERENCE = "copy the reference from 1Password: open the item, then the field's menu ▸ Copy Secret Reference"
const SIGN_IN_FIRST = 'sign in to 1Password in this shell first: `eval "$(op signin)"`'

// ------------------------------------------------------------------ references

export interface OpReference {
  vault: string
  item: string
  section?: string
  field: string
  text: string
}

/**
 * An `op://<vault>/<item>[/<section>]/<field>` reference, checked before op ever sees it. The
 * message never repeats the text: a secret pasted where a reference belongs must not be printed.
 */
export function parseReference(text: string): OpReference {
  const example = '`--exid op://Private/xai/credential`'
  if (!text.startsWith('op://'))
    throw new KeyrackUsageError('the 1password exid must be a secret reference, op://<vault>/<item>/<field> (not the secret itself)', [COPY_REFERENCE, `e.g. ${example}`])
  const parts = text.slice('op://'.length).split('/')
  const problem =
    parts.length < 3 || parts.length > 4
      ? 'it must have 3 or 4 parts: op://<vault>/<item>[/<section>]/<field>'
      : parts.some((p) => p.trim() === '')
        ? 'one of its parts is empty'
        : /[\u0000-\u001f\u007f{}]/.test(text)
          ? 'it holds control characters or braces'
          : text.includes('?')
            ? 'query parameters (?attribute=otp, …) are not supported: a one-time code is not a key to keep'
            : parts.some((p) => p.startsWith('-'))
              ? 'a part starts with "-"'
              : null
  if (problem) throw new KeyrackUsageError(`the 1password reference is not one keyrack can use: ${problem}`, [COPY_REFERENCE, `e.g. ${example}`])
  const [vault, item] = parts as [string, string]
  return { vault, item, ...(parts.length === 4 ? { section: parts[2] } : {}), field: parts[parts.length - 1]!, text }
}

/** a name op accepts inside a reference as it is (else the item's or vault's id is used) */
const referenceSafe = (name: string): boolean => /^[\w .-]+$/.test(name) && name.trim() === name && name !== ''

/** the title of an item keyrack creates: searchable (`keyrack`), and naming whose key it is */
export const itemTitle = (owner: string, slug: string): string => `keyrack ${owner}:${slug}`

// ------------------------------------------------------------------ running op

interface OpAuth {
  /** the environment every op call of this operation runs in (with the session, if keyrack made one) */
  env: Env
  /** the variable holding the session keyrack signed in for, to end it at relock */
  session?: string
}

/** one sign-in per operation: each VaultSession is one `unlock`, `set` or `del` */
const auths = new WeakMap<VaultSession, Promise<OpAuth>>()

function op(ctx: Context, env: Env, argv: string[], stdin?: string): Promise<SpawnResult> {
  return ctx.spawn({ argv: ['op', ...argv], env, tool: OP, timeoutMs: OP_TIMEOUT_MS, ...(stdin !== undefined ? { stdin } : {}) })
}

/** what op said went wrong: its last error line, without the `[ERROR] date time` prefix */
function opReason(result: SpawnResult): string {
  const lines = result.stderr.split('\n').map((l) => l.trim()).filter(Boolean)
  const last = lines.filter((l) => l.startsWith('[ERROR]')).at(-1) ?? lines.at(-1) ?? `exit ${result.code}`
  const reason = last.replace(/^\[ERROR\]\s*(\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\s*)?/, '')
  return printable(reason.length > 300 ? `${reason.slice(0, 300)}…` : reason)
}

const signedOut = (result: SpawnResult): boolean =>
  /account is not signed in|not currently signed in|could not find session token|session expired|no account found|not signed in/i.test(result.stderr)
const notFound = (result: SpawnResult): boolean => /isn't an item|isn't a vault|does not have a field|no item found/i.test(result.stderr)

/** the op tool on PATH, or its install hint (cheap: no process is started) */
async function requireOp(ctx: Context): Promise<void> {
  const { findOnPath, toolMissingError } = await import('../runtime/spawn.ts')
  if (!findOnPath(OP.name, ctx.env.PATH)) throw toolMissingError(OP)
}

/** signed in for this operation: `op whoami`, else `op signin` on the terminal (once) */
function signedIn(session: VaultSession): Promise<OpAuth> {
  let auth = auths.get(session)
  if (!auth) {
    auth = (async () => {
      const { ctx } = session
      await requireOp(ctx)
      const who = await op(ctx, ctx.env, ['whoami'])
      if (who.code === 0) return { env: ctx.env }
      if (!signedOut(who)) throw new KeyrackVaultError(`op could not tell who is signed in to 1Password: ${opReason(who)}`, ['run `op whoami` to see why'])
      return signIn(ctx)
    })()
    auths.set(session, auth)
    // a failed sign-in is not remembered: the next call may try again
    auth.catch(() => auths.delete(session))
  }
  return auth
}

async function signIn(ctx: Context): Promise<OpAuth> {
  if (!ctx.prompt)
    throw new KeyrackNoTerminalError('1Password is not signed in, and there is no terminal here to sign in on', [
      SIGN_IN_FIRST,
      'then run the same keyrack command again in that shell',
    ])
  // op asks the human for the account password on the terminal; keyrack only reads op's stdout
  const result = await ctx.spawn({ argv: ['op', 'signin'], terminal: true, env: ctx.env, tool: OP, timeoutMs: SIGNIN_TIMEOUT_MS })
  if (result.code !== 0) throw new KeyrackVaultError(`signing in to 1Password did not complete (op signin exited with ${result.code})`, [SIGN_IN_FIRST, 'then run the same keyrack command again'])
  // `eval $(op signin)` semantics without eval: the one export line op prints, parsed
  const exported = /^export (OP_SESSION_[A-Za-z0-9_]+)="([A-Za-z0-9_-]+)"$/m.exec(result.stdout)
  const env: Env = exported ? { ...ctx.env, [exported[1]!]: exported[2]! } : ctx.env
  const who = await op(ctx, env, ['whoami'])
  if (who.code !== 0) throw new KeyrackVaultError(`1Password still says nobody is signed in after op signin: ${opReason(who)}`, [SIGN_IN_FIRST, 'then run the same keyrack command again'])
  return { env, ...(exported ? { session: exported[1]! } : {}) }
}

/**
 * Runs an op command that needs a signed-in account. A session that ends mid-operation (op's
 * sessions end after 30 idle minutes) is signed into again once, on a terminal; without one,
 * the command to run first.
 */
async function opSignedIn(session: VaultSession, argv: string[], stdin?: string): Promise<SpawnResult> {
  const auth = await signedIn(session)
  const result = await op(session.ctx, auth.env, argv, stdin)
  if (result.code === 0 || !signedOut(result)) return result
  if (!session.ctx.prompt)
    throw new KeyrackNoTerminalError('the 1Password session ended while keyrack was using it', [SIGN_IN_FIRST, 'then run the same keyrack command again in that shell'])
  const again = signIn(session.ctx)
  auths.set(session, again)
  return op(session.ctx, (await again).env, argv, stdin)
}

// ------------------------------------------------------------------ scope

async function checkScope(session: VaultSession, ref: OpReference, slug: string): Promise<void> {
  const scope = await session.scope(ID)
  if (!scope || scope.includes(ref.vault)) return
  const { key, env } = parseSlug(slug)
  throw new KeyrackPolicyError(`${slug} points into the 1Password vault '${ref.vault}', outside the vaults keyrack may read (${scope.join(', ')})`, [
    `point it at an item in ${scope.map((v) => `'${v}'`).join(' or ')}: ${hints.set(session.ctx, { key, env, vault: ID, mech: 'PERMANENT_VIA_REFERENCE' })} --exid ${shellWord(`op://${scope[0]}/<item>/<field>`)}`,
    `or let keyrack read that vault too: \`keyrack policy --scope ${shellWord(`${ID}=${[...scope, ref.vault].join(',')}`)}${session.ctx.owner === 'human' ? '' : ` --owner ${session.ctx.owner}`}\``,
  ])
}

// ------------------------------------------------------------------ reading

/** the secret at a reference, or why 1Password holds none there */
async function readReference(session: VaultSession, ref: OpReference): Promise<{ secret: string } | { missing: string }> {
  const result = await opSignedIn(session, ['read', '--no-newline', ref.text])
  if (result.code === 0) return { secret: result.stdout }
  if (notFound(result)) return { missing: opReason(result) }
  throw new KeyrackVaultError(`op could not read ${printable(ref.text)}: ${opReason(result)}`, ['check that `op whoami` works, then try again'])
}

async function get(session: VaultSession, { slug, exid }: VaultKeyRef): Promise<string | null> {
  if (exid === null) return null
  await requireOp(session.ctx)
  const ref = parseReference(exid)
  await checkScope(session, ref, slug)
  const read = await readReference(session, ref)
  return 'secret' in read ? read.secret : null
}

// ------------------------------------------------------------------ the vault

export const onePasswordVault: LockableVault & BatchVault = {
  id: ID,
  protection: 'encrypted',
  description: 'an item in your 1Password account, read with `op` at unlock; keyrack keeps only its op:// reference',
  stores: ['secret', 'exid'],
  tool: OP,
  scopedBy: '1Password vault',
  where: () => 'your 1Password account (through `op`)',

  async isAvailable(ctx) {
    const { findOnPath, toolMissingError } = await import('../runtime/spawn.ts')
    const found = findOnPath(OP.name, ctx.env.PATH)
    if (found) return { available: true, detail: `op at ${found}` }
    return { available: false, reason: 'op (the 1Password CLI) is not installed', hint: toolMissingError(OP).hint }
  },

  async unlock(session) {
    await signedIn(session)
  },

  async relock(session) {
    // ends the session keyrack signed in for (one the user opened, or the app's, is left alone)
    const auth = await auths.get(session)?.catch(() => null)
    auths.delete(session)
    if (auth?.session) await op(session.ctx, auth.env, ['signout']).catch(() => undefined)
  },

  async set(session, { slug, secret, exid }) {
    const { ctx } = session
    await requireOp(ctx)
    if (exid !== undefined) {
      // an item the user already has: it must resolve (and lie in scope) before it is recorded
      const ref = parseReference(exid)
      await checkScope(session, ref, slug)
      const read = await readReference(session, ref)
      if ('missing' in read) throw new KeyrackVaultError(`${printable(ref.text)} does not lead to a secret: ${read.missing}`, [COPY_REFERENCE, 'then run the same `keyrack set` again'])
      return { exid: ref.text }
    }
    if (secret === undefined) throw new KeyrackVaultError('1password stores a secret or a reference (--exid), and neither was given', [])
    const scope = await session.scope(ID)
    const { key, env } = parseSlug(slug)
    const template = {
      title: itemTitle(ctx.owner, slug),
      category: 'API_CREDENTIAL',
      tags: [TAG],
      fields: [
        { id: FIELD, type: 'CONCEALED', label: FIELD, value: secret },
        { id: 'notesPlain', type: 'STRING', purpose: 'NOTES', label: 'notesPlain', value: `Stored by keyrack as ${slug} (owner ${ctx.owner}). \`${hints.del(ctx, key, env)} --org ${parseSlug(slug).org}\` deletes this item.` },
      ],
    }
    // the template (and the secret in it) goes on op's stdin: `op item create -`
    const result = await opSignedIn(session, ['item', 'create', ...(scope ? ['--vault', scope[0]!] : []), '--format', 'json', '-'], JSON.stringify(template))
    if (result.code !== 0) throw new KeyrackVaultError(`op could not create the 1Password item for ${slug}: ${opReason(result)}`, ['check that `op whoami` works, then try again'])
    let item: { id?: unknown; vault?: { id?: unknown; name?: unknown } }
    try {
      item = JSON.parse(result.stdout)
    } catch {
      item = {}
    }
    const vault = scope ? scope[0]! : typeof item.vault?.name === 'string' && referenceSafe(item.vault.name) ? item.vault.name : item.vault?.id
    if (typeof item.id !== 'string' || !/^[a-z0-9]+$/.test(item.id) || typeof vault !== 'string')
      throw new KeyrackVaultError(`op created the item for ${slug} but its answer could not be read`, [`look for "${itemTitle(ctx.owner, slug)}" in 1Password and delete it, then try again`])
    // by the item's id: titles need not be unique, ids are
    return { exid: `op://${vault}/${item.id}/${FIELD}` }
  },

  get,

  async getMany(session, refs) {
    const read = new Map<string, string | null>()
    const queue = [...refs]
    const worker = async () => {
      for (let ref = queue.shift(); ref; ref = queue.shift()) read.set(ref.slug, await get(session, ref))
    }
    // signed in once, before the reads fan out
    if (refs.some((r) => r.exid !== null)) await signedIn(session)
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_READS, refs.length) }, worker))
    return read
  },

  async del(session, { slug, exid }) {
    if (exid === null) return
    await requireOp(session.ctx)
    const ref = parseReference(exid)
    const kept = { kept: `the 1Password item at ${printable(ref.text)} is yours and was left as it is (keyrack only forgot the reference)` }
    // outside the scope keyrack touches nothing there: forgetting the reference is all it does
    if (await checkScope(session, ref, slug).then(() => false, () => true)) return kept
    const found = await opSignedIn(session, ['item', 'get', ref.item, '--vault', ref.vault, '--format', 'json'])
    if (found.code !== 0) {
      if (notFound(found)) return
      throw new KeyrackVaultError(`op could not look up ${printable(ref.text)}: ${opReason(found)}`, ['check that `op whoami` works, then try again'])
    }
    let item: { id?: unknown; title?: unknown; tags?: unknown }
    try {
      item = JSON.parse(found.stdout)
    } catch {
      return kept
    }
    // only an item keyrack created for this very key is deleted; the user's own items are theirs
    const ours = item.title === itemTitle(session.ctx.owner, slug) && Array.isArray(item.tags) && item.tags.includes(TAG) && typeof item.id === 'string'
    if (!ours) return kept
    const deleted = await opSignedIn(session, ['item', 'delete', item.id as string, '--vault', ref.vault])
    if (deleted.code !== 0 && !notFound(deleted)) throw new KeyrackVaultError(`op could not delete the 1Password item of ${slug}: ${opReason(deleted)}`, ['check that `op whoami` works, then try again'])
  },
}
export default onePasswordVault
