/**
 * fillPlan: what `keyrack fill` has to do for a repo env, decided without doing any of it and
 * without reading a secret (SPEC §11). For every allowlisted key: its state (as `get` sees it,
 * with no prompt), and the exact command that would make it granted — `keyrack set …` for an
 * absent key, the unlock command for a locked or expired one, the replacement advice for a
 * blocked one. It never prints, never prompts by itself and never returns a secret.
 *
 * A passphrase-protected identity hides the host manifest, so without a passphrase source a
 * key that was never set looks `locked` (`maybeAbsent`). Given one (ctx.passphrase), the plan
 * opens the host manifest only (no vault, no secret) to tell the two apart.
 */
import type { Context } from '../context.ts'
import { KeyrackOwnerUninitializedError } from '../domain/errors.ts'
import { meetsGrade, type Grade } from '../domain/grade.ts'
import { DEFAULT_OWNER, ENV_ALL } from '../domain/names.ts'
import { readOwnerConfig } from '../identity/owner-identity.ts'
import type { RepoKeySpec } from '../manifests/repo.ts'
import { AVAILABLE_MECH_IDS } from '../mechs/index.ts'
import { get, resolveTargets, type KeyReport } from './get.ts'
import { hints } from './hints.ts'
import { OwnerSession } from './session.ts'

export interface FillPlanInput {
  /** the repo env to fill (may be omitted when the repo manifest declares only one) */
  env?: string
  /** the vault the `set` commands should name (default os.secure) */
  vault?: string
  /** the mech the `set` commands should name where the repo manifest requires none */
  mech?: string
}

/** what brings a key to `granted`: nothing, a `set`, an `unlock`, or replacing a blocked key */
export type FillAction = 'none' | 'set' | 'unlock' | 'replace'

export interface FillPlanKey extends Omit<KeyReport, 'grant' | 'warning'> {
  /** the env a `set` stores the key under: the env asked for, or `all` for an env.all key */
  setEnv: string
  action: FillAction
  /** the repo manifest's requirements for this key */
  requiredMech?: string
  requiredGrade?: RepoKeySpec['grade']
  /** locked while the host manifest itself is locked: it may as well never have been set */
  maybeAbsent?: boolean
  /** absent keys: the exact `keyrack set …` command (`--mech <mech>` when the user must choose) */
  setCommand?: string
  /** absent keys: whether this build can produce the mech the repo requires */
  fillable?: boolean
  /** granted keys: where the grant came from (never the secret) */
  grade?: Grade
  vault?: string
  mech?: string
  expiresAt?: number
}

export interface FillPlan {
  env: string
  owner: string
  /** false when the owner has no keyrack yet (`keyrack init` first) */
  initialized: boolean
  keys: FillPlanKey[]
  /** key names by what they need */
  absent: string[]
  locked: string[]
  blocked: string[]
  /** the unlock command, when any key is locked or expired */
  unlockCommand?: string
  /** every command that would bring the env to ready, in order (init, sets, unlock) */
  commands: string[]
  /** every required key is granted */
  ready: boolean
}

export async function fillPlan(ctx: Context, input: FillPlanInput = {}): Promise<FillPlan> {
  const target = resolveTargets(ctx, { for: 'repo', env: input.env })
  const manifest = target.manifest!
  // get must not prompt, and must not read vaults with a passphrase: it looks as a robot would
  const result = await get({ ...ctx, passphrase: undefined }, { for: 'repo', env: target.env, lenient: true })
  const initialized = isInitialized(ctx)
  const protectedIdentity = initialized && readOwnerConfig(ctx).passphrase

  // with a passphrase source, tell "never set" from "not unlocked" by the host manifest alone
  let setSlugs: Set<string> | null = null
  const hidden = result.report.filter((r) => r.state === 'locked' && protectedIdentity)
  if (hidden.length > 0 && ctx.passphrase) setSlugs = new Set(Object.keys((await new OwnerSession(ctx).manifest()).keys))

  const keys = result.report.map((report): FillPlanKey => {
    const { grant, warning: _warning, ...rest } = report
    const spec = target.keys.find((k) => k.key === report.key)!
    const setEnv = manifest.envs.get(target.env)?.some((s) => s.key === report.key) ? target.env : ENV_ALL
    const planned: FillPlanKey = { ...rest, setEnv, action: 'none' }
    if (spec.spec.mech) planned.requiredMech = spec.spec.mech
    if (spec.spec.grade) planned.requiredGrade = spec.spec.grade
    if (grant) Object.assign(planned, { grade: grant.key.grade, vault: grant.vault, mech: grant.mech }, grant.expiresAt ? { expiresAt: grant.expiresAt } : {})
    if (planned.state === 'locked' && protectedIdentity) {
      if (setSlugs && !spec.slugs.some((s) => setSlugs!.has(s))) {
        planned.state = 'absent'
        planned.reason = 'not in the host manifest'
      } else if (!setSlugs) planned.maybeAbsent = true
    }
    if (planned.optional || planned.state === 'granted') return planned
    if (planned.state === 'absent') {
      const mech = spec.spec.mech ?? input.mech
      planned.action = 'set'
      planned.fillable = spec.spec.mech === undefined || AVAILABLE_MECH_IDS.includes(spec.spec.mech)
      planned.setCommand = hints.set(ctx, { key: report.key, env: setEnv, vault: input.vault ?? 'os.secure', mech })
      planned.hint = [initialized ? planned.setCommand : `${hints.init(ctx)}, then ${planned.setCommand}`]
    } else if (planned.state === 'locked' || planned.state === 'expired') {
      planned.action = 'unlock'
      // a key locked behind the host manifest may also never have been set
      if (planned.maybeAbsent) planned.setCommand = hints.set(ctx, { key: report.key, env: setEnv, vault: input.vault ?? 'os.secure', mech: spec.spec.mech ?? input.mech })
    } else planned.action = 'replace'
    return planned
  })

  const names = (action: FillAction) => keys.filter((k) => k.action === action).map((k) => k.key)
  const unlockCommand = keys.some((k) => k.action === 'unlock') ? unlockRepo(ctx, target.env) : undefined
  const commands = [
    ...(initialized ? [] : [hints.init(ctx)]),
    ...keys.flatMap((k) => (k.action === 'set' && k.setCommand ? [k.setCommand] : [])),
    ...(unlockCommand ? [unlockCommand] : []),
  ]
  return {
    env: target.env,
    owner: ctx.owner,
    initialized,
    keys,
    absent: names('set'),
    locked: names('unlock'),
    blocked: names('replace'),
    ...(unlockCommand ? { unlockCommand } : {}),
    commands,
    ready: keys.every((k) => k.action === 'none'),
  }
}

/**
 * The vaults a key may be stored in with a mech, strongest first (os.secure before os.direct):
 * the mech must take its source from the vault, and the vault must meet the repo's grade.
 */
export async function vaultChoices(mechId: string, requiredGrade?: RepoKeySpec['grade']): Promise<{ id: string; protection: Grade['protection'] }[]> {
  const { VAULT_IDS, loadVault } = await import('../vaults/index.ts')
  const { loadMech } = await import('../mechs/index.ts')
  const mech = await loadMech(mechId)
  const rank = { reference: 0, encrypted: 1, plaintext: 2 } as const
  const vaults = await Promise.all(VAULT_IDS.map(loadVault))
  return vaults
    .filter((v) => mech.vaults.includes(v.id) && (!requiredGrade || meetsGrade({ protection: v.protection, duration: mech.duration }, requiredGrade)))
    .sort((a, b) => rank[a.protection] - rank[b.protection] || (a.id === 'os.secure' ? -1 : b.id === 'os.secure' ? 1 : 0))
    .map((v) => ({ id: v.id, protection: v.protection }))
}

function isInitialized(ctx: Context): boolean {
  try {
    readOwnerConfig(ctx)
    return true
  } catch (error) {
    if (error instanceof KeyrackOwnerUninitializedError) return false
    throw error
  }
}

const unlockRepo = (ctx: Context, env: string): string => `keyrack unlock --for repo --env ${env}${ctx.owner === DEFAULT_OWNER ? '' : ` --owner ${ctx.owner}`}`
