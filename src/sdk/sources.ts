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
 * A source that is not needed is never built: a `get` the daemon answers whole loads no adapter,
 * no registry and nothing of ./local-sources.ts (which would cost start-up time on every get).
 */
import type { Grade } from '../domain/grade.ts'
import type { Grant } from '../domain/grant.ts'
import type { AllowlistedKey } from '../manifests/repo.ts'
import { lookupDaemon } from '../daemon/owner.ts'
import type { Context } from '../context.ts'

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
  | { state: 'absent'; reason: string; /** the owner has no keyrack at all */ uninitialized?: boolean; /** replaces the set hint */ hint?: string[] }
  /** provisioned where keyrack cannot read it (GitHub Actions secrets): it exists only there */
  | { state: 'remote'; reason: string; hint: string[] }

export interface Source {
  readonly name: string
  lookup(slugs: readonly string[]): Promise<Map<string, Answer>>
}

/** for a key no source granted: the most telling answer any source gave */
const WEIGHT: Record<Exclude<Answer['state'], 'granted'>, number> = { expired: 4, remote: 3, locked: 2, absent: 1 }

export interface Resolved {
  slug: string
  answer: Answer
}

/** runs the chain: each source is asked only for the keys still pending */
export async function resolveChain(keys: readonly AllowlistedKey[], sources: readonly (() => Source | Promise<Source>)[]): Promise<Map<string, Resolved>> {
  const granted = new Map<string, Resolved>()
  const best = new Map<string, Resolved>()
  for (const build of sources) {
    const pending = keys.filter((k) => !granted.has(k.key))
    if (pending.length === 0) break
    const answers = await (await build()).lookup(pending.flatMap((k) => k.slugs))
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

/** @param warnings receives a line when the daemon was skipped (unsafe directory, no answer within 1 s) */
export function daemonSource(ctx: Context, warnings: string[] = []): Source {
  return {
    name: 'daemon',
    async lookup(slugs) {
      const answers = new Map<string, Answer>()
      for (const [slug, answer] of await lookupDaemon(ctx, [...slugs], warnings))
        if (answer.state === 'granted') answers.set(slug, { state: 'granted', grant: answer.grant })
        else if (answer.state === 'expired') answers.set(slug, { state: 'expired' })
      return answers
    },
  }
}

