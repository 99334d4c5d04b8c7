/**
 * The sources of `get` after the daemon (./sources.ts): index-free vaults, the owner's records
 * and the caller's environment. Loaded only when the daemon did not answer for every key.
 */
import { existsSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { KeyrackError, KeyrackOwnerUninitializedError } from '../domain/errors.ts'
import type { Grant } from '../domain/grant.ts'
import { hints } from '../domain/hints.ts'
import { REPLICA_MECH } from '../domain/ids.ts'
import { parseSlug } from '../domain/names.ts'
import { hostManifestMissing, type HostManifest } from '../manifests/host.ts'
import { readInventory } from '../manifests/inventory.ts'
import { declarationOf, type AllowlistedKey, type RepoKeySpec } from '../manifests/repo.ts'
import { isDeclared } from '../mechs/mech.ts'
import { accessOf, isIndexFree, isPassthrough, isRemote } from '../vaults/vault.ts'
import { gradeOf, grantFromVault, toGrant } from './grant.ts'
import { OwnerSession } from './session.ts'
import type { Answer, Source } from './sources.ts'

export function indexFreeSource(ctx: Context): Source {
  return {
    name: 'index-free vaults',
    async lookup(slugs) {
      const answers = new Map<string, Answer>()
      for (const vault of (await ctx.vaults.loadAll()).filter(isIndexFree)) {
        for (const [slug, { secret, mech }] of await vault.lookup(ctx, slugs.filter((s) => !answers.has(s)))) {
          // entries from before the mech was stored beside the secret were replicas
          const grant = await toGrant(ctx, { slug, vault, mech: await ctx.mechs.load(mech ?? REPLICA_MECH), source: secret })
          answers.set(slug, { state: 'granted', grant })
        }
      }
      return answers
    },
  }
}

/**
 * The owner's records: the inventory (value-free, always readable), or the host manifest when
 * the identity opens without asking (and for keys whose exid only the host manifest holds).
 * Silent only when neither can be read (no inventory yet, identity locked): then nobody knows.
 */
export function recordsSource(ctx: Context, session: OwnerSession = new OwnerSession(ctx), declared: (slug: string) => RepoKeySpec | undefined = () => undefined): Source {
  return {
    name: 'records',
    async lookup(slugs) {
      const answers = new Map<string, Answer>()
      try {
        session.config()
      } catch (error) {
        if (!(error instanceof KeyrackOwnerUninitializedError)) throw error
        for (const slug of slugs) answers.set(slug, { state: 'absent', reason: `owner '${ctx.owner}' has no keyrack yet`, uninitialized: true })
        return answers
      }
      if (!existsSync(paths.hostManifest(ctx))) throw hostManifestMissing(ctx)
      const canOpen = session.canOpenIdentity()
      const inventory = readInventory(ctx)
      let manifest: HostManifest | null = null
      if (canOpen && (!inventory || slugs.some((s) => inventory.entry(s)?.exid))) manifest = await session.manifest()
      if (!manifest && !inventory) return answers
      await Promise.all(
        slugs.map(async (slug) => {
          const entry = manifest ? manifest.keys[slug] : inventory!.entry(slug)
          if (!entry) return void answers.set(slug, { state: 'absent', reason: 'not in the host manifest' })
          const [vault, mech] = await Promise.all([ctx.vaults.load(entry.vault), ctx.mechs.load(entry.mech)])
          const recorded = { mech: mech.id, grade: gradeOf(vault, mech) }
          const access = accessOf(vault)
          if (isRemote(vault)) return void answers.set(slug, { state: 'remote', ...vault.describeRemote(ctx, { slug, exid: manifest ? (manifest.keys[slug]?.exid ?? null) : null }) })
          if (access === 'unlock') return void answers.set(slug, { state: 'locked', reason: `set in ${vault.id}, not unlocked`, recorded })
          if (access === 'identity' && !canOpen) return void answers.set(slug, { state: 'locked', reason: 'set, but not unlocked', recorded })
          const exid = manifest ? (manifest.keys[slug]?.exid ?? null) : null
          // only the (locked) host manifest knows where this one points
          if (!manifest && inventory?.entry(slug)?.exid) return void answers.set(slug, { state: 'locked', reason: 'set, but not unlocked', recorded })
          const spec = declared(slug)
          const grant = await grantFromVault(session, { slug, exid, vault, mech, ...(spec ? { declared: spec } : {}) })
          if (grant) return void answers.set(slug, { state: 'granted', grant })
          const { key, env } = parseSlug(slug)
          // a passthrough key is recorded, but its secret is the caller's to bring
          if (isPassthrough(vault)) return void answers.set(slug, { state: 'absent', reason: `set in ${vault.id}, but not in ${vault.where(ctx)}`, hint: [`export ${key} in the environment that runs keyrack (in CI: pass it in the step's \`env:\`)`] })
          answers.set(slug, { state: 'locked', reason: `in the host manifest, but ${vault.id} returned nothing`, hint: [hints.set(ctx, { key, env, vault: vault.id, mech: entry.mech })] })
        }),
      )
      return answers
    },
  }
}

/** keys already in the caller's environment: granted as plaintext replicas, marked implicit */
export function environmentSource(ctx: Context): Source {
  return {
    name: 'environment',
    async lookup(slugs) {
      const answers = new Map<string, Answer>()
      const present = slugs.filter((slug) => ctx.env[parseSlug(slug).key])
      if (present.length === 0) return answers
      const passthrough = (await ctx.vaults.loadAll()).find(isPassthrough)
      if (!passthrough) return answers
      const mech = await ctx.mechs.load(REPLICA_MECH)
      for (const slug of present) {
        const source = ctx.env[parseSlug(slug).key]!
        answers.set(slug, { state: 'granted', implicit: true, grant: await toGrant(ctx, { slug, vault: passthrough, mech, source }) })
      }
      return answers
    },
  }
}

/** what a key minted from the repo manifest's declaration is said to be stored in */
export const DECLARED_VAULT = 'declared'

/**
 * Keys whose mech mints from what the repo manifest declares (EPHEMERAL_VIA_GITHUB_OIDC's
 * `role-arn`), minted where they are asked for: in CI. Nothing of them is stored anywhere; a
 * mint that cannot happen here (no OIDC token: the job lacks `id-token: write`) answers `absent`
 * with the mech's own hint.
 */
export function declaredSource(ctx: Context, keys: readonly AllowlistedKey[]): Source {
  return {
    name: 'declared',
    async lookup(slugs) {
      const answers = new Map<string, Answer>()
      await Promise.all(
        keys.map(async (k) => {
          const declaration = declarationOf(k.spec)
          const slug = k.slugs[0]!
          if (!declaration || !k.spec.mech || !slugs.includes(slug)) return
          const mech = await ctx.mechs.load(k.spec.mech)
          if (!isDeclared(mech)) return
          try {
            const minted = await mech.toKey(ctx, { slug, source: declaration })
            const grant: Grant = { slug, key: { secret: minted.secret, grade: { protection: 'reference', duration: mech.duration } }, mech: mech.id, vault: DECLARED_VAULT }
            if (minted.expiresAt !== undefined) grant.expiresAt = minted.expiresAt
            if (minted.companions) grant.companions = minted.companions
            answers.set(slug, { state: 'granted', grant })
          } catch (error) {
            if (!(error instanceof KeyrackError)) throw error
            answers.set(slug, { state: 'absent', reason: error.message, hint: error.hint })
          }
        }),
      )
      return answers
    },
  }
}
