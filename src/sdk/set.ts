/**
 * set: stores a key in a vault, records it in the host manifest, and proves the round trip
 * (store → read back → compare → mint) before it reports success (SPEC §7), for every vault the
 * same way. Nothing is left half-written: a failure after the store puts the vault back as it was.
 */
import { existsSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { exceptionHint, formatRequiredGrade } from '../domain/enforce.ts'
import { describeForeignError, KeyrackError, KeyrackKeyBlockedError, KeyrackSecretInvalidError, KeyrackUsageError, KeyrackVaultError, KeyrackVaultUnavailableError } from '../domain/errors.ts'
import { assertSlugFits } from '../domain/limits.ts'
import { assertSecretStorable } from '../domain/secret.ts'
import { blockedAdvice, describeFinding, inspectSecret } from '../domain/firewall/check.ts'
import { canHold, formatGrade, meetsGrade, type Grade } from '../domain/grade.ts'
import { hints, ownerFlag } from '../domain/hints.ts'
import { REPLICA_MECH, SUGGESTED_VAULT } from '../domain/ids.ts'
import { assertEnv, assertKey, assertOrg, ENV_ALL, ENV_SUDO, toSlug } from '../domain/names.ts'
import { readOwnerConfig } from '../identity/owner-identity.ts'
import { writeHostManifest, type HostEntry } from '../manifests/host.ts'
import { readRepoManifest, type RepoKeySpec, type RepoManifest } from '../manifests/repo.ts'
import { findWorksite, repoManifestPath } from '../manifests/worksite.ts'
import { isDeclared, type Mech } from '../mechs/mech.ts'
import { withLock } from '../runtime/lock.ts'
import { canSource, isLockable, isPassthrough, isRemote, type Vault, type VaultSetInput } from '../vaults/vault.ts'
import { notAllowlistedWarning } from './allowlist-advice.ts'
import { gradeOf, toGrant } from './grant.ts'
import { OwnerSession } from './session.ts'
import { DEFAULT_DURATION, SUDO_DURATION } from './unlock.ts'
import { parseDuration } from '../domain/duration.ts'
import { audited } from './audit.ts'

export interface SetInput {
  key: string
  env: string
  vault: string
  /** required unless the repo manifest requires one for this key: there is no default mech */
  mech?: string
  /** the org; defaults to the repo manifest's org (required outside a repo) */
  org?: string
  /** the secret to store (when the mech's source is the secret); never logged, never in argv */
  secret?: string
  /** a pointer to an existing item (when the mech's source is a reference, e.g. `op://…`) */
  exid?: string
  /** for a vault that holds keys for a time only (the daemon's memory): how long, e.g. `9h` */
  duration?: string
}

export interface SetResult {
  slug: string
  vault: string
  mech: string
  grade: Grade
  createdAt: string
  updatedAt: string
  /** e.g. the plaintext warning for os.direct, a labelled long-lived credential */
  warnings: string[]
}

export interface SetPlan {
  key: string
  env: string
  slug: string
  spec?: RepoKeySpec
  vault: Vault
  mech: Mech
  grade: Grade
  /** what the caller must supply: the secret, a reference (`--exid`), or nothing (the vault reads it elsewhere) */
  needs: 'secret' | 'exid' | 'nothing'
  /** the key is stored, but this repo's `get` would not serve it: what to add to the manifest */
  notAllowlisted?: string
}

/**
 * Everything `set` checks before it needs the secret (names, org, mech choice, vault and its
 * availability, grade requirement), so nobody types a secret into a command that will refuse it.
 */
export async function resolveSetPlan(ctx: Context, input: Omit<SetInput, 'secret'>): Promise<SetPlan> {
  const key = assertKey(input.key)
  const env = assertEnv(input.env)
  // an unknown owner hears `keyrack init --owner …` before anyone types a secret
  readOwnerConfig(ctx)
  const spec = repoSpec(ctx, key, env)
  const org = input.org ? assertOrg(input.org) : spec.org
  if (!org)
    throw new KeyrackUsageError('outside a repo with .agent/keyrack.yml, `set` needs `--org`', [
      `keyrack set --key ${key} --env ${env} --org <your-org> --vault ${input.vault} --mech ${input.mech ?? '<mech>'}`,
      'or `--org @all` for a machine-wide key',
    ])
  const mechId = input.mech ?? spec.spec?.mech
  if (!mechId)
    throw new KeyrackUsageError(
      'no mech chosen: keyrack has no default mech, so nobody stores a long-lived key without choosing to',
      [
        `if ${key} has no short-lived alternative (most LLM API keys), store it as a permanent replica: ${hints.set(ctx, { key, env, vault: input.vault, mech: REPLICA_MECH })}`,
        `available mechs: ${ctx.mechs.ids.join(', ')}`,
      ],
    )
  if (spec.spec?.mech && spec.spec.mech !== mechId)
    throw new KeyrackKeyBlockedError(`the repo manifest requires mech ${spec.spec.mech} for ${key}`, [hints.set(ctx, { key, env, vault: input.vault, mech: spec.spec.mech })])
  const vault = await ctx.vaults.load(input.vault)
  const mech = await ctx.mechs.load(mechId)
  if (isDeclared(mech))
    throw new KeyrackUsageError(`${mech.id} keeps nothing in a vault: it is declared in .agent/keyrack.yml and minted in CI, so there is nothing to set`, [
      `declare it under env.${env}: \`- key: ${key}\` with \`mech: ${mech.id}\` and \`role-arn: arn:aws:iam::<account>:role/<role>\``,
      'then in the GitHub Actions job (with `permissions: id-token: write`): `keyrack get --for repo --env <env> --ci --output github-env`',
    ])
  if (!canSource(vault, mech)) {
    const fitting = (await ctx.vaults.loadAll()).filter((v) => canSource(v, mech)).map((v) => `--vault ${v.id}`)
    throw new KeyrackUsageError(`mech ${mech.id} cannot take its source from vault ${vault.id}`, [fitting.length ? `use one of: ${fitting.join(', ')}` : `no vault in this build holds ${mech.id}'s source`])
  }
  const grade = gradeOf(vault, mech)
  if (spec.spec?.grade && !meetsGrade(grade, spec.spec.grade))
    throw new KeyrackKeyBlockedError(`the repo manifest requires grade ${formatRequiredGrade(spec.spec.grade)} for ${key}, and ${vault.id} + ${mech.id} gives ${formatGrade(grade)}`, [
      hints.set(ctx, { key, env, vault: SUGGESTED_VAULT, mech: spec.spec.mech ?? mech.id }),
    ])
  const availability = await vault.isAvailable(ctx)
  if (!availability.available) throw new KeyrackVaultUnavailableError(`vault ${vault.id} cannot be used here: ${availability.reason}`, availability.hint)
  const needs = isPassthrough(vault) ? 'nothing' : (mech.source as 'secret' | 'exid')
  // a vault that provisions elsewhere (GitHub Actions secrets) needs the destination
  if (isRemote(vault) && !input.exid)
    throw new KeyrackUsageError(`${vault.id} provisions the secret elsewhere: say where with \`--exid ${vault.exidForm}\``, [
      `keyrack set --key ${key} --env ${env} --vault ${vault.id} --mech ${mech.id} --exid OWNER/REPO${ownerFlag(ctx)}   # the repository whose Actions get it (form: ${vault.exidForm})`,
    ])
  // a mech with a guided set (AWS SSO) asks for what is missing; the others need it named
  if (needs === 'exid' && !input.exid && !mech.ask) throw exidMissing(ctx, { key, env, vault, mech })
  const notAllowlisted = spec.manifest ? notAllowlistedWarning(spec.manifest, { key, env, org }) : undefined
  return { key, env, slug: assertSlugFits(toSlug({ org, env, key })), spec: spec.spec, vault, mech, grade, needs, ...(notAllowlisted ? { notAllowlisted } : {}) }
}

export async function set(ctx: Context, input: SetInput): Promise<SetResult> {
  return audited(ctx, 'set', { env: input.env ?? null, slugs: input.key ? [input.key] : [] }, () => setOnce(ctx, input), (result) => ({
    env: input.env ?? null,
    slugs: [result.slug],
    outcome: 'ok',
    details: { vault: result.vault, mech: result.mech },
  }))
}

async function setOnce(ctx: Context, input: SetInput): Promise<SetResult> {
  const { key, env, slug, spec, vault, mech, grade, needs, notAllowlisted } = await resolveSetPlan(ctx, input)
  const warnings: string[] = []
  const given: Pick<VaultSetInput, 'secret' | 'exid'> = {}
  if (needs === 'secret') {
    if (!input.secret) throw new KeyrackSecretInvalidError('the secret is empty', ['pass it on stdin with `--secret-stdin`, or type it at the prompt'])
    const size = Buffer.byteLength(input.secret)
    if (vault.maxSecretBytes !== undefined && size > vault.maxSecretBytes)
      throw new KeyrackSecretInvalidError(`${vault.id} holds secrets of at most ${vault.maxSecretBytes} bytes, and this one is ${size}; nothing was stored`, [
        `keep it in another vault, e.g. ${hints.set(ctx, { key, env, mech: mech.id })}`,
      ])
    given.secret = input.secret
    // the firewall first (a long-lived key padded with a NUL is above all a long-lived key), then
    // NUL, lone surrogates, over the limit: refused by name before anything is stored (domain/secret.ts)
    warnings.push(...firewall(ctx, { key, env, org: input.org }, input.secret, spec))
    assertSecretStorable(input.secret, key)
    // a malformed source (a GitHub App's JSON) is refused before anything is stored
    mech.checkSource?.(input.secret)
    // a vault that stores the secret at a place of the user's choosing (an SSM parameter, a repository's Actions secrets) takes the place as exid
    if (input.exid) given.exid = input.exid
  } else if (needs === 'exid') {
    if (!input.exid) throw exidMissing(ctx, { key, env, vault, mech })
    given.exid = input.exid
  }
  if (notAllowlisted) warnings.push(notAllowlisted)
  if (vault.protection === 'plaintext' && needs === 'secret') warnings.push(plaintextWarning(ctx, vault, key))
  const until = ctx.now() + parseDuration(input.duration ?? (env === ENV_SUDO ? SUDO_DURATION : DEFAULT_DURATION))

  const session = new OwnerSession(ctx)
  // open the identity (and the vault's own lock) before taking the owner lock, so a human
  // typing a passphrase does not hold it
  await session.identity()
  if (isLockable(vault)) await vault.unlock(session, [{ slug, exid: given.exid ?? null }])
  try {
    return await withLock(paths.lock(ctx), async () => {
      const manifest = await session.manifest()
      const previous = manifest.keys[slug]
      const previousVault = previous ? await ctx.vaults.load(previous.vault) : null
      if (previous && previousVault) {
        const previousMech = await ctx.mechs.load(previous.mech).catch(() => null)
        const previousGrade: Grade = { protection: previousVault.protection, duration: previousMech?.duration ?? 'permanent' }
        // never degrade: a key kept encrypted is never re-vaulted in plaintext (SPEC §9)
        if (!canHold(grade, previousGrade))
          throw new KeyrackKeyBlockedError(
            `refusing to move ${slug} from ${formatGrade(previousGrade)} (${previous.vault}) to ${formatGrade(grade)} (${vault.id}): keyrack never lowers a key's protection`,
            [`keep it protected: ${hints.set(ctx, { key, env, vault: previous.vault, mech: mech.id })}`, `to store a new plaintext key on purpose, first remove the old one: ${hints.del(ctx, key, env)}`],
          )
        // keyrack keeps one place per key: provisioning CI with a key this machine holds would delete it here
        if (isRemote(vault) && !isRemote(previousVault))
          throw new KeyrackUsageError(`${slug} is kept in ${previous.vault}: provisioning it to ${vault.id} would replace that record and remove it from this machine`, [
            `if you mean to move it (keyrack will then have it only in CI), remove it here first: ${hints.del(ctx, key, env)}, then run this set again`,
          ])
      }
      // what to put back if the round trip fails: the same vault's previous source — or, for a new
      // key, whatever already sat where this one is stored (a team's SSM parameter is put back, never deleted)
      const restore =
        previous && previous.vault === vault.id
          ? await previousSource(session, vault, slug, previous)
          : needs === 'secret' && !isRemote(vault)
            ? await vault.get(session, { slug, exid: given.exid ?? null }).then((secret) => (secret === null ? null : { secret, ...(given.exid ? { exid: given.exid } : {}) }))
            : null
      let step = 'store'
      let stored: { exid: string | null } | null = null
      try {
        stored = await vault.set(session, { slug, mech: mech.id, ...given, until })
        step = 'read back'
        // a vault keyrack cannot read proves the store by the item being there
        const source = isRemote(vault) ? null : await vault.get(session, { slug, exid: stored.exid })
        if (isRemote(vault) && !(await vault.exists(session, { slug, exid: stored.exid }))) throw new RoundTripError(`${vault.id} does not list it after the store`)
        step = 'compare'
        if (source === null && needs !== 'nothing' && !isRemote(vault)) throw new RoundTripError(`${vault.id} returned nothing`)
        if (needs === 'secret' && source !== given.secret && !isRemote(vault)) throw new RoundTripError(`${vault.id} returned a different secret`)
        if (source !== null) {
          step = 'mint'
          const grant = await toGrant(ctx, { slug, vault, mech, source, ...(spec ? { declared: spec } : {}) })
          // a key behind a reference meets the firewall here, as a typed secret does at the door
          if (needs === 'exid') warnings.push(...firewall(ctx, { key, env, org: input.org }, grant.key.secret, spec))
        }
        step = 'record'
        const now = new Date(ctx.now()).toISOString()
        const entry: HostEntry = { vault: vault.id, mech: mech.id, exid: stored.exid, createdAt: previous?.createdAt ?? now, updatedAt: now }
        const next = { ...manifest, keys: { ...manifest.keys, [slug]: entry } }
        await writeHostManifest(ctx, next)
        session.setManifest(next)
        // moving a key to another vault leaves no copy behind in the old one, nor does storing it
        // again under a new exid (a new item) in the same vault (the move itself is recorded by
        // now: a failure here is reported, never rolled back into a lost key)
        const replaced = previous && previousVault && (previousVault !== vault || (previous.exid !== null && previous.exid !== stored.exid))
        // — except a secret provisioned to CI: it stays there (deleting CI's copy is never a side effect)
        if (replaced && isRemote(previousVault))
          warnings.push(`${key} stays a GitHub Actions secret where it was provisioned (${previous.exid ?? 'see your repository settings'}); keyrack now keeps it in ${vault.id === previousVault.id ? stored.exid : vault.id} only`)
        else if (replaced)
          await previousVault
            .del(session, { slug, exid: previous.exid })
            .catch((error: unknown) => warnings.push(`the old copy of ${key} in ${previousVault.id} could not be removed (${error instanceof KeyrackError ? error.message : describeForeignError(error)}); remove it by hand`))
            // the old vault's sign-in, if removing opened one, ends here
            .finally(() => (previousVault !== vault && isLockable(previousVault) ? previousVault.relock?.(session).catch(() => undefined) : undefined))
        return { slug, vault: vault.id, mech: mech.id, grade, createdAt: entry.createdAt, updatedAt: entry.updatedAt, warnings }
      } catch (error) {
        const storedExid = stored?.exid ?? null
        // what this set stored under an exid of its own (an item it created) goes again…
        if (storedExid !== null && storedExid !== (restore?.exid ?? null)) await vault.del(session, { slug, exid: storedExid }).catch(() => undefined)
        // …and the previous source is put back, or a half-written store removed
        if (restore !== null) await vault.set(session, { slug, mech: previous?.mech ?? mech.id, ...restore, until }).catch(() => undefined)
        else if (storedExid === null && (stored !== null || step === 'store')) await vault.del(session, { slug, exid: null }).catch(() => undefined)
        // a typed error already says what is wrong and what to do
        if (error instanceof KeyrackError || step === 'store') throw error
        // only keyrack's own words: a foreign error's message may quote the secret it choked on
        const reason = error instanceof RoundTripError ? error.message : `unexpected ${describeForeignError(error)}`
        throw new KeyrackVaultError(`the round trip through ${vault.id} failed at step '${step}': ${reason}; nothing was changed`, [
          'run `keyrack doctor` to check the vault, then try again',
        ])
      }
    })
  } finally {
    // what the vault opened for this set (a sign-in session) ends with it
    if (isLockable(vault)) await vault.relock?.(session).catch(() => undefined)
  }
}

const exidMissing = (ctx: Context, p: { key: string; env: string; vault: Vault; mech: Mech }) =>
  new KeyrackUsageError(`${p.mech.id} stores a reference: say which item with \`--exid\``, [
    `keyrack set --key ${p.key} --env ${p.env} --vault ${p.vault.id} --mech ${p.mech.id} --exid <reference>`,
    ...(p.mech.ask ? ['or run it on a terminal without `--exid`: keyrack guides you through it'] : []),
    // a vault that can also hold the secret itself makes the item from it
    ...(p.vault.stores.includes('secret') ? [`or let ${p.vault.id} keep the secret itself: ${hints.set(ctx, { key: p.key, env: p.env, vault: p.vault.id, mech: REPLICA_MECH })}`] : []),
  ])

/** what a plaintext vault means for the key, said before it is stored */
export const plaintextWarning = (ctx: Context, vault: Vault, key: string): string =>
  `${vault.id} stores ${key} in plaintext in ${vault.where(ctx)}: any process running as you can read it`

/** the firewall at the door: a long-lived credential with a short-lived alternative is refused */
function firewall(ctx: Context, { key, env, org }: { key: string; env: string; org?: string }, secret: string, spec?: RepoKeySpec): string[] {
  const verdict = inspectSecret(secret)
  if (verdict.verdict !== 'blocked' && verdict.verdict !== 'labelled') return []
  const what = describeFinding(verdict)
  if (verdict.verdict === 'labelled')
    return [`${key} is ${what}; keyrack stores it because ${verdict.rule.provider} offers no short-lived alternative: rotate it now and then`]
  if (spec?.allow === 'long-lived')
    return [`storing ${what} as ${key} because the repo manifest allows it (allow: long-lived), reason: ${JSON.stringify(spec.reason ?? '')}`]
  throw new KeyrackKeyBlockedError(`refusing to store ${what} as ${key}`, [
    // the same --org the user typed, so the replacement lands where the refused key would have
    ...blockedAdvice(verdict.rule, { key, env, org, owner: ctx.owner }),
    exceptionHint(key),
  ])
}

/** a vault's previous source for a slug, to restore: the pointer it recorded, or the secret it held */
async function previousSource(session: OwnerSession, vault: Vault, slug: string, previous: HostEntry): Promise<Pick<VaultSetInput, 'secret' | 'exid'> | null> {
  // what GitHub holds cannot be read back, so it cannot be put back
  if (isRemote(vault)) return null
  // a pointer to the user's own item is put back as a pointer: nothing is written into that item
  const mech = await session.ctx.mechs.load(previous.mech).catch(() => null)
  if (previous.exid !== null && (!vault.stores.includes('secret') || mech?.source === 'exid')) return { exid: previous.exid }
  // a secret the vault keeps at a place (an SSM parameter) goes back to that place
  const secret = await vault.get(session, { slug, exid: previous.exid })
  if (secret === null) return previous.exid !== null ? { exid: previous.exid } : null
  return { secret, ...(previous.exid !== null ? { exid: previous.exid } : {}) }
}

function repoSpec(ctx: Context, key: string, env: string): { org?: string; spec?: RepoKeySpec; manifest?: RepoManifest } {
  const worksite = findWorksite(ctx.cwd, ctx.env)
  if (!worksite || !existsSync(repoManifestPath(worksite))) return {}
  const manifest = readRepoManifest(worksite, ctx.env)
  if (env === ENV_SUDO) return { org: manifest.org, manifest }
  const spec = manifest.envs.get(env)?.find((s) => s.key === key) ?? manifest.envs.get(ENV_ALL)?.find((s) => s.key === key)
  return { org: manifest.org, spec, manifest }
}

/** a round-trip failure in keyrack's own words (never the secret) */
class RoundTripError extends Error {}
