/** del: removes a key's host manifest entry and its stored secret */
import { paths, type Context } from '../context.ts'
import { KeyrackKeyAbsentError } from '../domain/errors.ts'
import { assertEnv, assertKey, assertOrg, ENV_ALL, toSlug } from '../domain/names.ts'
import { hints } from '../domain/hints.ts'
import { writeHostManifest } from '../manifests/host.ts'
import { readRepoManifest } from '../manifests/repo.ts'
import { findWorksite, repoManifestPath } from '../manifests/worksite.ts'
import { KeyrackUsageError } from '../domain/errors.ts'
import { withLock } from '../runtime/lock.ts'
import { existsSync } from 'node:fs'
import { isLockable } from '../vaults/vault.ts'
import { OwnerSession } from './session.ts'
import { audited } from './audit.ts'

export interface DelInput {
  key: string
  env: string
  org?: string
}

export async function del(ctx: Context, input: DelInput): Promise<{ slug: string; vault: string; kept?: string }> {
  return audited(ctx, 'del', { env: input.env, slugs: [input.key] }, () => delOnce(ctx, input), (result) => ({ env: input.env, slugs: [result.slug], outcome: 'ok', details: { vault: result.vault, ...(result.kept ? { kept: true } : {}) } }))
}

async function delOnce(ctx: Context, input: DelInput): Promise<{ slug: string; vault: string; kept?: string }> {
  const key = assertKey(input.key)
  const env = assertEnv(input.env)
  const worksite = findWorksite(ctx.cwd, ctx.env)
  const org = input.org ? assertOrg(input.org) : worksite && existsSync(repoManifestPath(worksite)) ? readRepoManifest(worksite, ctx.env).org : undefined
  if (!org) throw new KeyrackUsageError('outside a repo with .agent/keyrack.yml, `del` needs `--org`', [`keyrack del --key ${key} --env ${env} --org <org>`])
  const slug = toSlug({ org, env, key })
  const session = new OwnerSession(ctx)
  await session.identity()
  return withLock(paths.lock(ctx), async () => {
    const manifest = await session.manifest()
    const entry = manifest.keys[slug]
    if (!entry) {
      // the key may be stored once for every env (`--env all`), as the repo's env.all keys are
      const shared = env !== ENV_ALL && manifest.keys[toSlug({ org, env: ENV_ALL, key })]
      throw new KeyrackKeyAbsentError(`${slug} is not in the host manifest of owner '${ctx.owner}'`, [
        ...(shared ? [`${key} is stored for every env (${toSlug({ org, env: ENV_ALL, key })}): \`${hints.del(ctx, key, ENV_ALL)}${input.org ? ` --org ${org}` : ''}\``] : []),
        `see what is there: \`${hints.list(ctx)}\``,
      ])
    }
    const vault = await ctx.vaults.load(entry.vault)
    // a vault with its own sign-in ends the session it opened for this del
    const removed = await vault.del(session, { slug, exid: entry.exid }).finally(() => (isLockable(vault) ? vault.relock?.(session).catch(() => undefined) : undefined))
    const keys = { ...manifest.keys }
    delete keys[slug]
    await writeHostManifest(ctx, { ...manifest, keys })
    return { slug, vault: entry.vault, ...(removed?.kept ? { kept: removed.kept } : {}) }
  })
}
