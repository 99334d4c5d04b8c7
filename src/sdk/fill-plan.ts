/**
 * fillPlan: what `keyrack fill` has to do for a repo env, decided without doing any of it and
 * without reading a secret (SPEC §11). For every allowlisted key: its state (as `get` sees it,
 * with no prompt), and the exact command that would make it granted — `keyrack set …` for an
 * absent key, the unlock command for a locked or expired one, the replacement advice for a
 * blocked one. It never prints, never prompts by itself and never returns a secret.
 *
 * The inventory tells a key that was never set from one that is locked, without a passphrase.
 * Only keys set by an older keyrack (no inventory yet) stay uncertain (`maybeAbsent`); given a
 * passphrase source, the plan opens the host manifest once (no vault, no secret) and writes the
 * inventory, so every later look is exact.
 */
import type { Context } from '../context.ts'
import { KeyrackOwnerUninitializedError } from '../domain/errors.ts'
import { meetsGrade, PROTECTIONS, type Grade } from '../domain/grade.ts'
import { hints, ownerFlag } from '../domain/hints.ts'
import { ENV_ALL } from '../domain/names.ts'
import type { KeyReport } from '../domain/report.ts'
import { readOwnerConfig } from '../identity/owner-identity.ts'
import { readHostManifest } from '../manifests/host.ts'
import { ensureInventory } from '../manifests/inventory.ts'
import { declarationOf, type RepoKeySpec } from '../manifests/repo.ts'
import { canSource, isPassthrough, isRemote } from '../vaults/vault.ts'
import { getTarget } from './get.ts'
import { resolveTargets } from './targets.ts'
import { OwnerSession } from './session.ts'

export interface FillPlanInput {
  /** the repo env to fill (may be omitted when the repo manifest declares only one) */
  env?: string
  /** the vault the `set` commands should name (default os.secure) */
  vault?: string
  /** the mech the `set` commands should name where the repo manifest requires none */
  mech?: string
}

/**
 * What brings a key to `granted`: nothing, a `set`, an `unlock`, replacing a blocked key — or
 * nothing here at all (`remote`: provisioned to CI, where it is read from the job's environment)
 */
export type FillAction = 'none' | 'set' | 'unlock' | 'replace' | 'remote'

export interface FillPlanKey extends Omit<KeyReport, 'grant' | 'warning'> {
  /** the env a `set` stores the key under: the env asked for, or `all` for an env.all key */
  setEnv: string
  action: FillAction
  /** the repo manifest's requirements for this key */
  requiredMech?: string
  requiredGrade?: RepoKeySpec['grade']
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
  const robot: Context = { ...ctx, passphrase: undefined, prompt: undefined }
  let result = await getTarget(robot, target, { lenient: true })
  const initialized = isInitialized(ctx)
  if (ctx.passphrase && result.report.some((r) => r.maybeAbsent)) {
    // keys from before the inventory: open the host manifest once and write the inventory
    const session = new OwnerSession(ctx)
    await ensureInventory(ctx, () => readHostManifest(ctx, (ciphertext, file) => session.decrypt(ciphertext, file)))
    result = await getTarget(robot, target, { lenient: true })
  }

  const keys = result.report.map((report): FillPlanKey => {
    const { grant, warning: _warning, ...rest } = report
    const spec = target.keys.find((k) => k.key === report.key)!
    const setEnv = manifest.envs.get(target.env)?.some((s) => s.key === report.key) ? target.env : ENV_ALL
    const planned: FillPlanKey = { ...rest, setEnv, action: 'none' }
    if (spec.spec.mech) planned.requiredMech = spec.spec.mech
    if (spec.spec.grade) planned.requiredGrade = spec.spec.grade
    if (grant) Object.assign(planned, { grade: grant.key.grade, vault: grant.vault, mech: grant.mech }, grant.expiresAt ? { expiresAt: grant.expiresAt } : {})
    if (planned.optional || planned.state === 'granted') return planned
    const setCommand = hints.set(ctx, { key: report.key, env: setEnv, vault: input.vault, mech: spec.spec.mech ?? input.mech })
    if (planned.state === 'absent') {
      planned.action = 'set'
      // a key minted in CI from the manifest (GitHub OIDC) has nothing to set: its report says what to do
      planned.fillable = !declarationOf(spec.spec) && (spec.spec.mech === undefined || ctx.mechs.ids.includes(spec.spec.mech as never))
      if (declarationOf(spec.spec)) return planned
      planned.setCommand = setCommand
      planned.hint = [initialized ? setCommand : `${hints.init(ctx)}, then ${setCommand}`]
    } else if (planned.state === 'locked' || planned.state === 'expired') {
      planned.action = 'unlock'
      // a key locked behind the host manifest may also never have been set
      if (planned.maybeAbsent) planned.setCommand = setCommand
    } else if (planned.state === 'remote') planned.action = 'remote'
    else planned.action = 'replace'
    return planned
  })

  const names = (action: FillAction) => keys.filter((k) => k.action === action).map((k) => k.key)
  const unlockCommand = keys.some((k) => k.action === 'unlock') ? `keyrack unlock --for repo --env ${target.env}${ownerFlag(ctx)}` : undefined
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
 * The vaults a key may be stored in with a mech and a typed source, strongest first (then in
 * registry order): the vault must hold the mech's source and meet the repo's grade.
 */
export async function vaultChoices(ctx: Context, mechId: string, requiredGrade?: RepoKeySpec['grade']): Promise<{ id: string; protection: Grade['protection'] }[]> {
  const mech = await ctx.mechs.load(mechId)
  const vaults = await ctx.vaults.loadAll()
  const strength = (p: Grade['protection']) => -PROTECTIONS.indexOf(p)
  return vaults
    .filter((v) => canSource(v, mech) && !isPassthrough(v) && !isRemote(v) && (!requiredGrade || meetsGrade({ protection: v.protection, duration: mech.duration }, requiredGrade)))
    .map((v, order) => ({ v, order }))
    .sort((a, b) => strength(a.v.protection) - strength(b.v.protection) || a.order - b.order)
    .map(({ v }) => ({ id: v.id, protection: v.protection }))
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
