/**
 * The chain of sources `get` resolves keys through (SPEC §11). Each source answers for the
 * slugs it knows and is silent about the rest; for each key the first grant wins, in this order:
 *
 *   1. the daemon — what a human unlocked (wins over everything, the environment included);
 *   2. index-free vaults — read with no host manifest and no identity (os.direct);
 *   3. the owner's records — the inventory (or the host manifest, when the identity opens without
 *      asking) says which vault holds each key: vaults readable without an unlock are read
 *      (os.envvar; os.secure when the identity opens without asking), the others answer `locked`,
 *      and a key in no record is `absent`;
 *   4. the caller's environment — a key already exported (implicit passthrough).
 *
 * A source that is not needed is never built: a `get` the daemon answers whole loads no adapter.
 */
import { existsSync } from 'node:fs'
import { paths, type Context } from '../context.ts'
import { KeyrackOwnerUninitializedError } from '../domain/errors.ts'
import type { Grade } from '../domain/grade.ts'
import type { Grant } from '../domain/grant.ts'
import { hints } from '../domain/hints.ts'
import { REPLICA_MECH } from '../domain/ids.ts'
import { parseSlug } from '../domain/names.ts'
import { hostManifestMissing, type HostManifest } from '../manifests/host.ts'
import { readInventory } from '../manifests/inventory.ts'
import type { AllowlistedKey } from '../manifests/repo.ts'
import { accessOf, isIndexFree, isPassthrough } from '../vaults/vault.ts'
import { lookupDaemon } from './daemon-lookup.ts'
import { gradeOf, grantFromVault, toGrant } from './grant.ts'
import type { OwnerSession } from './session.ts'

export type Answer =
  | { state: 'granted'; grant: Grant; /** from the caller's environment, with no record of it */ implicit?: boolean }
  | { state: 'expired' }
  | {
      state: 'locked'
      reason: string
      /** replaces the unlock hint */
      hint?: string[]
      /** what the records say the key is, when they say: enough to check the repo's requirement without the secret */
      recorded?: { mech: string; grade: Grade }
    }
  | { state: 'absent'; reason: string; /** the owner has no keyrack at all */ uninitialized?: boolean }

export interface Source {
  readonly name: string
  lookup(slugs: readonly string[]): Promise<Map<string, Answer>>
}

/** for a key no source granted: the most telling answer any source gave */
const WEIGHT: Record<Exclude<Answer['state'], 'granted'>, number> = { expired: 3, locked: 2, absent: 1 }

export interface Resolved {
  slug: string
  answer: Answer
}

/** runs the chain: each source is asked only for the keys still pending */
export async function resolveChain(keys: readonly AllowlistedKey[], sources: readonly (() => Source)[]): Promise<Map<string, Resolved>> {
  const granted = new Map<string, Resolved>()
  const best = new Map<string, Resolved>()
  for (const build of sources) {
    const pending = keys.filter((k) => !granted.has(k.key))
    if (pending.length === 0) break
    const answers = await build().lookup(pending.flatMap((k) => k.slugs))
    for (const k of pending)
      for (const slug of k.slugs) {
        const answer = answers.get(slug)
        if (!answer) continue
        if (answer.state === 'granted') {
          granted.set(k.key, { slug, answer })
          break
        }
        const previous = best.get(k.key)?.answer
        if (!previous || previous.state === 'granted' || WEIGHT[answer.state] > WEIGHT[previous.state]) best.set(k.key, { slug, answer })
      }
  }
  for (const [key, resolved] of granted) best.set(key, resolved)
  return best
}

export function daemonSource(ctx: Context): Source {
  return {
    name: 'daemon',
    async lookup(slugs) {
      const answers = new Map<string, Answer>()
      for (const [slug, answer] of await lookupDaemon(ctx, [...slugs]))
        if (answer.state === 'granted') answers.set(slug, { state: 'granted', grant: answer.grant })
        else if (answer.state === 'expired') answers.set(slug, { state: 'expired' })
      return answers
    },
  }
}

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
export function recordsSource(ctx: Context, session: OwnerSession): Source {
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
          if (access === 'unlock') return void answers.set(slug, { state: 'locked', reason: `set in ${vault.id}, not unlocked`, recorded })
          if (access === 'identity' && !canOpen) return void answers.set(slug, { state: 'locked', reason: 'set, but not unlocked', recorded })
          const exid = manifest ? (manifest.keys[slug]?.exid ?? null) : null
          // only the (locked) host manifest knows where this one points
          if (!manifest && inventory?.entry(slug)?.exid) return void answers.set(slug, { state: 'locked', reason: 'set, but not unlocked', recorded })
          const grant = await grantFromVault(session, { slug, exid, vault, mech })
          if (grant) return void answers.set(slug, { state: 'granted', grant })
          const { key, env } = parseSlug(slug)
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
