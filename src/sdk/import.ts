/**
 * import --from rhachet (SPEC §17): brings every key of rhachet's keyrack for one owner into
 * keyrack's host manifest and vaults, with the same vault, mech and timestamps.
 *
 * All or nothing: every importable key is stored and read back (the round trip) before the host
 * manifest records any of them; if one fails, the ones stored are removed again (and an owner this
 * run created is removed too). Keys in vaults or mechs keyrack lacks, keys rhachet's own cache let
 * expire, and long-lived credentials the firewall refuses are reported per key, never dropped
 * silently. rhachet's files are only read. Running it again imports nothing twice (`unchanged`).
 */
import { existsSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { KeyrackError, KeyrackUsageError, KeyrackVaultError } from '../domain/errors.ts'
import { blockedAdvice, describeFinding, inspectSecret } from '../domain/firewall/check.ts'
import { assertEnv, assertKey, assertOrg, DEFAULT_OWNER, parseSlug } from '../domain/names.ts'
import { isInitialized } from '../identity/owner-identity.ts'
import { openRhachetKeyrack, type RhachetHost } from '../import/rhachet.ts'
import { writeHostManifest, type HostEntry } from '../manifests/host.ts'
import { removeFileIfExists } from '../runtime/fs-atomic.ts'
import { withLock } from '../runtime/lock.ts'
import { canSource, isLockable, type Vault } from '../vaults/vault.ts'
import { hints } from '../domain/hints.ts'
import { SUGGESTED_VAULT } from '../domain/ids.ts'
import { OwnerSession } from './session.ts'

export interface ImportInput {
  /** where from; only rhachet's keyrack today */
  from: 'rhachet'
  /** print the plan, write nothing (not even the owner) */
  dryRun?: boolean
  /** an ssh private key (or age identity file) to try first, like rhachet's `--prikey` */
  identity?: string
}

/** import: stored now; unchanged: keyrack already holds the same secret; skip: reported, not imported */
export type ImportAction = 'import' | 'unchanged' | 'skip'

export interface ImportKey {
  slug: string
  vault: string
  mech: string
  createdAt: string
  updatedAt: string
  action: ImportAction
  /** why a key is skipped */
  reason?: string
  hint: string[]
  /** e.g. a labelled long-lived credential */
  warning?: string
}

export interface ImportResult {
  from: 'rhachet'
  /** the keyrack owner imported into */
  owner: string
  /** rhachet's owner (null: its default owner) */
  rhachetOwner: string | null
  rhachetManifest: string
  /** the key file that opened rhachet's keyrack */
  identity: string
  /** the owner created on rhachet's identity (or, in a dry run, the one that would be) */
  createdOwner: { via: 'ssh'; pubkey: string; identity: string } | null
  keys: ImportKey[]
  /** how many keys were (or, in a dry run, would be) written */
  imported: number
  dryRun: boolean
}

interface Planned extends ImportKey {
  vaultAdapter?: Vault
  secret?: string
  /** a key kept as a reference (an AWS profile name): what rhachet pointed at, checked to resolve */
  exid?: string
}

export async function importKeys(ctx: Context, input: ImportInput): Promise<ImportResult> {
  if (input.from !== 'rhachet') throw new KeyrackUsageError(`cannot import from '${String(input.from).slice(0, 20)}'`, ['keyrack import --from rhachet'])
  const rhachet = await openRhachetKeyrack(ctx, { identity: input.identity })
  const ownerFlag = ctx.owner === DEFAULT_OWNER ? '' : ` --owner ${ctx.owner}`

  // the keyrack owner: existing, or to be created on the very key rhachet used
  const exists = isInitialized(ctx)
  let createOwner: ImportResult['createdOwner'] = null
  if (!exists) {
    if (rhachet.identity.kind !== 'ssh')
      throw new KeyrackUsageError(`owner '${ctx.owner}' has no keyrack yet, and rhachet's keyrack opened with an age identity file, which keyrack cannot link`, [
        `create the owner first: \`keyrack init${ownerFlag}\`, then run \`keyrack import --from rhachet${ownerFlag}\` again`,
      ])
    const pubkey = `${rhachet.identity.file}.pub`
    if (!existsSync(pubkey))
      throw new KeyrackUsageError(`owner '${ctx.owner}' has no keyrack yet, and ${pubkey} (the public half of rhachet's key) is missing`, [
        `write it: \`ssh-keygen -y -f ${rhachet.identity.file} > ${pubkey}\`, then run \`keyrack import --from rhachet${ownerFlag}\` again`,
      ])
    createOwner = { via: 'ssh', pubkey, identity: rhachet.identity.file }
  }

  // what keyrack holds already (an existing owner): re-importing the same secret changes nothing
  const session = exists ? new OwnerSession(ctx) : null
  const current = session ? (await session.manifest()).keys : {}
  // one session for every vault read of the import, so a vault with a sign-in (1Password) signs in once
  const owner = session ?? new OwnerSession(ctx)
  try {
    return await importPlanned(ctx, input, { rhachet, ownerFlag, createOwner, session, owner, current })
  } finally {
    // and what such a vault opened for the import ends with it
    for (const id of new Set([...Object.values(rhachet.manifest.hosts)].map((h) => h.vault))) {
      const vault = await ctx.vaults.load(id).catch(() => null)
      if (vault && isLockable(vault)) await vault.relock?.(owner).catch(() => undefined)
    }
  }
}

async function importPlanned(
  ctx: Context,
  input: ImportInput,
  { rhachet, ownerFlag, createOwner, session, owner, current }: {
    rhachet: Awaited<ReturnType<typeof openRhachetKeyrack>>
    ownerFlag: string
    createOwner: ImportResult['createdOwner']
    session: OwnerSession | null
    owner: OwnerSession
    current: Record<string, HostEntry>
  },
): Promise<ImportResult> {
  const planned: Planned[] = []
  for (const [slug, host] of Object.entries(rhachet.manifest.hosts).sort(([a], [b]) => a.localeCompare(b))) {
    planned.push(await planKey(ctx, slug, host, rhachet.readSecret, current, session, owner))
  }

  const missing = planned.filter((k) => k.action === 'import' && k.secret === undefined && k.exid === undefined)
  if (missing.length > 0)
    throw new KeyrackVaultError(`rhachet's host manifest lists ${missing.map((k) => `${k.slug} (${k.vault})`).join(', ')}, but rhachet's vault holds no secret for ${missing.length === 1 ? 'it' : 'them'}; nothing was imported`, [
      `check with rhachet (\`rhx keyrack get --key …\`), or remove the entry there; then run \`keyrack import --from rhachet${ownerFlag}\` again`,
    ])
  const conflicts = planned.filter((k) => k.reason === 'conflict')
  if (conflicts.length > 0)
    throw new KeyrackUsageError(`keyrack already holds a different secret for ${conflicts.map((k) => k.slug).join(', ')}; nothing was imported`, [
      ...conflicts.map((k) => {
        const { env, key } = parseSlug(k.slug)
        return `to take rhachet's instead: ${hints.del(ctx, key, env)}, then run \`keyrack import --from rhachet${ownerFlag}\` again`
      }),
    ])

  const toImport = planned.filter((k) => k.action === 'import')
  const result = (keys: Planned[]): ImportResult => ({
    from: 'rhachet',
    owner: ctx.owner,
    rhachetOwner: rhachet.paths.owner,
    rhachetManifest: rhachet.paths.hostManifest,
    identity: rhachet.identity.file,
    createdOwner: createOwner,
    keys: keys.map(({ vaultAdapter: _v, secret: _s, exid: _e, ...key }) => key),
    imported: toImport.length,
    dryRun: input.dryRun === true,
  })
  if (input.dryRun || toImport.length === 0 && !createOwner) return result(planned)

  // from here on everything written is undone if any step fails
  const created: string[] = []
  try {
    if (createOwner) {
      const { init } = await import('./init.ts')
      await init(ctx, { via: 'ssh', pubkey: createOwner.pubkey, identity: createOwner.identity })
      created.push(paths.ownerConfig(ctx), paths.hostManifest(ctx), paths.inventory(ctx))
    }
    await owner.identity()
    await withLock(paths.lock(ctx), async () => {
      const manifest = await owner.manifest()
      const stored: Planned[] = []
      const recorded = new Map<string, string | null>()
      try {
        for (const key of toImport) {
          const vault = key.vaultAdapter!
          // a key set in keyrack meanwhile is never overwritten
          if (manifest.keys[key.slug]) throw new KeyrackVaultError(`${key.slug} was set in keyrack while the import ran`, [`run \`keyrack import --from rhachet${ownerFlag}\` again`])
          const { exid } = await vault.set(owner, key.exid !== undefined ? { slug: key.slug, exid: key.exid, mech: key.mech } : { slug: key.slug, secret: key.secret!, mech: key.mech })
          recorded.set(key.slug, exid)
          stored.push(key)
          const back = await vault.get(owner, { slug: key.slug, exid })
          // a reference must still resolve; a secret must come back the same
          if (back === null || (key.exid === undefined && back !== key.secret))
            throw new KeyrackVaultError(`the round trip of ${key.slug} through ${vault.id} returned ${back === null ? 'nothing' : 'a different secret'}`, ['run `keyrack doctor` to check the vault, then import again'])
        }
        const keys: Record<string, HostEntry> = { ...manifest.keys }
        for (const key of toImport) keys[key.slug] = { vault: key.vault, mech: key.mech, exid: recorded.get(key.slug) ?? null, createdAt: key.createdAt, updatedAt: key.updatedAt }
        const next = { ...manifest, keys }
        await writeHostManifest(ctx, next)
        owner.setManifest(next)
      } catch (error) {
        for (const key of stored) await key.vaultAdapter!.del(owner, { slug: key.slug, exid: recorded.get(key.slug) ?? null }).catch(() => undefined)
        throw error
      }
    })
  } catch (error) {
    for (const file of created) removeFileIfExists(file)
    if (error instanceof KeyrackError) {
      const hint = [...error.hint]
      throw Object.assign(error, { message: `${error.message}; the import was undone, nothing was written`, hint })
    }
    throw error
  }
  return result(planned)
}

/**
 * A key rhachet kept as a reference (an AWS SSO profile name): nothing to decrypt, only a pointer to
 * bring over — and only when it still resolves here (the profile is in ~/.aws/config, the tool is
 * installed), so the import never records a key that cannot work.
 */
async function planReference(
  ctx: Context,
  base: Omit<Planned, 'action'>,
  host: RhachetHost,
  vault: Vault,
  current: Record<string, HostEntry>,
  owner: OwnerSession,
  setHint: string,
): Promise<Planned> {
  const skip = (reason: string, hint: string[] = []): Planned => ({ ...base, action: 'skip', reason, hint })
  if (!host.exid) return skip('rhachet recorded no reference for it', [setHint])
  const availability = await vault.isAvailable(ctx)
  if (!availability.available) return skip(`vault ${vault.id} cannot be used here: ${availability.reason}`, availability.hint)
  try {
    if ((await vault.get(owner, { slug: base.slug, exid: host.exid })) === null) return skip(`${vault.id} has nothing at ${host.exid}`, [setHint])
  } catch (error) {
    if (!(error instanceof KeyrackError)) throw error
    return skip(error.message, error.hint)
  }
  const existing = current[base.slug]
  if (existing)
    return existing.vault === vault.id && existing.exid === host.exid ? { ...base, action: 'unchanged', reason: 'keyrack already points at the same place', hint: [] } : { ...base, action: 'skip', reason: 'conflict', hint: [] }
  return { ...base, action: 'import', vaultAdapter: vault, exid: host.exid }
}

async function planKey(
  ctx: Context,
  slug: string,
  host: RhachetHost,
  readSecret: (host: RhachetHost) => Promise<{ secret: string; expiresAt?: string } | null>,
  current: Record<string, HostEntry>,
  session: OwnerSession | null,
  owner: OwnerSession,
): Promise<Planned> {
  const base = { slug, vault: host.vault, mech: host.mech, createdAt: host.createdAt, updatedAt: host.updatedAt, hint: [] as string[] }
  const skip = (reason: string, hint: string[] = []): Planned => ({ ...base, action: 'skip', reason, hint })
  let parts
  try {
    parts = parseSlug(slug)
    assertOrg(parts.org)
    assertEnv(parts.env)
    assertKey(parts.key)
  } catch {
    return skip('the slug is not a keyrack name (<org>.<env>.<KEY>)')
  }
  const mechIds: readonly string[] = ctx.mechs.ids
  // name the mech in the hint only when the vault the hint names can hold its source
  const suggested = await ctx.vaults.load(SUGGESTED_VAULT)
  const mechFits = mechIds.includes(host.mech) && canSource(suggested, await ctx.mechs.load(host.mech))
  const setHint = hints.set(ctx, { key: parts.key, env: parts.env, mech: mechFits ? host.mech : undefined })
  // loaded by name, so an alias rhachet used (aws.iam.sso) finds its vault
  const vaultAdapter = await ctx.vaults.load(host.vault).catch(() => null)
  if (!vaultAdapter)
    return skip(`vault ${host.vault} is not in keyrack yet (it has ${ctx.vaults.ids.join(', ')})`, [`keep using rhachet for it, or store it in a keyrack vault: ${setHint}`])
  if (!mechIds.includes(host.mech))
    return skip(`mech ${host.mech} is not in keyrack yet (it has ${mechIds.join(', ')})`, ['keep using rhachet for it until keyrack has that mech'])
  const mech = await ctx.mechs.load(host.mech)
  if (!canSource(vaultAdapter, mech) || (mech.source !== 'secret' && mech.source !== 'exid')) return skip(`mech ${mech.id} cannot take its source from vault ${vaultAdapter.id} in keyrack`, [setHint])
  if (mech.source === 'exid') return planReference(ctx, { ...base, vault: vaultAdapter.id }, host, vaultAdapter, current, owner, setHint)

  const stored = await readSecret(host)
  if (stored === null) return { ...base, action: 'import', vaultAdapter } // no secret: reported as an error by the caller
  if (stored.expiresAt && Date.parse(stored.expiresAt) <= ctx.now())
    return skip(`rhachet's cached copy expired at ${stored.expiresAt}`, [setHint])
  const verdict = inspectSecret(stored.secret)
  let warning: string | undefined
  if (verdict.verdict === 'blocked')
    return skip(`${describeFinding(verdict)}: keyrack does not store long-lived credentials that have a short-lived alternative`, blockedAdvice(verdict.rule, { key: parts.key, env: parts.env, org: parts.org, owner: ctx.owner }))
  if (verdict.verdict === 'labelled') warning = `${parts.key} is ${describeFinding(verdict)} with no short-lived alternative: rotate it now and then`

  const existing = current[slug]
  if (existing && session) {
    const held = existing.vault === host.vault ? await vaultAdapter.get(session, { slug, exid: existing.exid }) : null
    if (held === stored.secret) return { ...base, action: 'unchanged', reason: 'keyrack already holds the same secret', ...(warning ? { warning } : {}) }
    return { ...base, action: 'skip', reason: 'conflict', hint: [] }
  }
  return { ...base, action: 'import', vaultAdapter, secret: stored.secret, ...(warning ? { warning } : {}) }
}
