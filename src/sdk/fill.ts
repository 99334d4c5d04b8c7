/**
 * fill: takes a new machine from nothing to ready for a repo env (SPEC §11) — what is granted
 * stays, what is locked is unlocked once, what is absent gets a guided `set` (the mech the repo
 * requires or one the human picks, the vault, the secret at a hidden prompt, the round trip
 * proved, the firewall applied, retry or skip), a blocked key gets its replacement advice.
 *
 * It talks to the human only through the prompt port (ctx.prompt). Without one it never waits:
 * when anything is left to do it throws KeyrackNoTerminalError listing the exact commands. It
 * never prints: progress goes to `notify`, and the result is the plan as `get` sees it at the end.
 */
import type { Context } from '../context.ts'
import { KeyrackCancelledError, KeyrackKeyAbsentError, KeyrackKeyBlockedError, KeyrackNoTerminalError, KeyrackSecretInvalidError, KeyrackUsageError } from '../domain/errors.ts'
import { ownerFlag } from '../domain/hints.ts'
import { meetsGrade } from '../domain/grade.ts'
import { usualMechFor } from '../domain/ids.ts'
import { isDeclared } from '../mechs/mech.ts'
import type { Prompt } from '../ports.ts'
import { fillPlan, vaultChoices, type FillPlan, type FillPlanInput, type FillPlanKey } from './fill-plan.ts'
import { plaintextWarning, resolveSetPlan, set, type SetInput } from './set.ts'

export type FillInput = FillPlanInput

export interface FillNotice {
  level: 'info' | 'warn' | 'hint'
  message: string
}

export interface FillResult {
  /** the final plan, as `get` sees it with no prompt */
  plan: FillPlan
  /** keys this run set (and proved) */
  filled: string[]
}

const SKIP = '__skip__'

export async function fill(ctx: Context, input: FillInput = {}, notify: (notice: FillNotice) => void = () => undefined): Promise<FillResult> {
  const choices = { vault: input.vault, mech: input.mech }
  // refuse unknown choices before anything else happens
  if (choices.vault) await ctx.vaults.load(choices.vault)
  if (choices.mech) await ctx.mechs.load(choices.mech)
  const robot: Context = { ...ctx, passphrase: undefined, prompt: undefined }
  let plan = await fillPlan(robot, { env: input.env, ...choices })
  const prompt = ctx.prompt
  if (!prompt) {
    if (!plan.ready) throw noTerminal(plan)
    return { plan, filled: [] }
  }
  if (!plan.initialized)
    throw new KeyrackUsageError(`owner '${plan.owner}' has no keyrack yet`, [`create it: \`${plan.commands[0]}\`, then run \`${fillCommand(plan)}\` again`])

  const say = (message: string) => notify({ level: 'info', message })
  const warn = (message: string) => notify({ level: 'warn', message })
  const filled: string[] = []
  try {
    if (plan.keys.some((k) => k.maybeAbsent)) {
      say(`locked: ${plan.locked.join(', ')}; your passphrase unlocks them (and tells which were never set)`)
      plan = await fillPlan(ctx, { env: plan.env, ...choices })
    }
    say(`env ${plan.env} of owner '${plan.owner}': ${summary(plan)}`)
    const absent = plan.keys.filter((k) => k.action === 'set')
    // validate every choice already made before anyone types a secret
    for (const k of absent) {
      const mech = k.requiredMech ?? choices.mech
      if (k.fillable && mech && choices.vault) await resolveSetPlan(ctx, { key: k.key, env: k.setEnv, vault: choices.vault, mech })
    }
    for (const k of absent) if (await guidedSet(ctx, prompt, k, choices, notify)) filled.push(k.key)
    for (const k of plan.keys.filter((k) => k.action === 'replace' || k.action === 'remote')) {
      warn(`${k.key} is ${k.action === 'remote' ? '' : 'blocked: '}${k.reason ?? ''}`)
      for (const line of k.hint) notify({ level: 'hint', message: line })
    }

    // what is set but not unlocked (including what was just set): one unlock, one passphrase
    plan = await fillPlan(ctx, { env: plan.env, ...choices })
    if (plan.locked.length > 0) {
      say(`unlocking ${plan.locked.join(', ')}`)
      const { unlock } = await import('./unlock.ts')
      try {
        const result = await unlock(ctx, { for: 'repo', env: plan.env })
        for (const k of result.unlocked) say(`unlocked ${k.slug} until ${new Date(k.expiresAt).toISOString()}`)
        for (const s of result.skipped) if (plan.locked.includes(s.key)) warn(`${s.key}: ${s.reason}`)
      } catch (error) {
        if (!(error instanceof KeyrackKeyAbsentError || error instanceof KeyrackKeyBlockedError)) throw error
        warn(error.message)
        for (const line of error.hint) notify({ level: 'hint', message: line })
      }
    }
  } catch (error) {
    if (error instanceof KeyrackCancelledError)
      throw new KeyrackCancelledError([
        filled.length ? `${filled.join(', ')} ${filled.length === 1 ? 'was' : 'were'} set and verified before that; nothing else was written` : 'nothing was written',
        `continue with \`${fillCommand(plan)}\``,
      ])
    throw error
  }
  // the result as `get` sees it, with no prompt
  return { plan: await fillPlan(robot, { env: plan.env, ...choices }), filled }
}

/** one absent key: its mech (required, chosen before, or picked), its vault (chosen before or picked), its source; true when set */
async function guidedSet(ctx: Context, prompt: Prompt, k: FillPlanKey, choices: { vault?: string; mech?: string }, notify: (notice: FillNotice) => void): Promise<boolean> {
  const say = (message: string) => notify({ level: 'info', message })
  const warn = (message: string) => notify({ level: 'warn', message })
  say(`${k.key} (${k.setEnv === k.env ? `env ${k.env}` : 'env.all: one key for every env'}) is not set`)
  if (!k.fillable) {
    if (k.requiredMech && ctx.mechs.ids.includes(k.requiredMech as never)) {
      // minted where it runs (CI), from what the manifest declares: nothing to set here
      warn(`${k.key}: ${k.reason ?? `${k.requiredMech} mints it in CI`}; nothing to set here, skipped`)
      for (const line of k.hint) notify({ level: 'hint', message: line })
    } else warn(`the repo requires mech ${k.requiredMech} for ${k.key}, which this version of keyrack cannot set up; skipped`)
    return false
  }
  let mechId = k.requiredMech ?? choices.mech
  if (k.requiredMech) say(`mech: ${k.requiredMech} (required by the repo manifest)`)
  else if (mechId) say(`mech: ${mechId} (--mech)`)
  if (!mechId) {
    // only mechs that some vault of this build can hold (and that meet the repo's grade)
    const mechs = []
    for (const m of await ctx.mechs.loadAll()) if ((await vaultChoices(ctx, m.id, k.requiredGrade)).length > 0) mechs.push(m)
    // the one that usually grants this key first (AWS_PROFILE: the AWS SSO mech)
    const usual = usualMechFor(k.key)
    mechs.sort((a, b) => Number(b.id === usual) - Number(a.id === usual))
    const picked = await prompt.select(`how should ${k.key} become a usable key? (keyrack has no default mech)`, [
      ...mechs.map((m) => ({ value: m.id as string, label: `${m.id} — ${m.description}` })),
      { value: SKIP, label: `skip ${k.key} for now` },
    ], mechs[0]?.id)
    if (picked === SKIP) return false
    mechId = picked
  }
  let vaultId = choices.vault
  if (vaultId) say(`vault: ${vaultId} (--vault)`)
  while (!vaultId) {
    const vaults = await vaultChoices(ctx, mechId, k.requiredGrade)
    // a mech whose source only one vault can hold (an AWS SSO profile: aws.config): no question
    if (vaults.length === 1 && vaults[0]!.protection !== 'plaintext') {
      vaultId = vaults[0]!.id
      say(`vault: ${vaultId} (the one that holds ${mechId}'s source)`)
      break
    }
    const picked = await prompt.select(`where should ${k.key} be stored?`, [
      ...vaults.map((v) => ({ value: v.id, label: `${v.id} (${v.protection})` })),
      { value: SKIP, label: `skip ${k.key} for now` },
    ], vaults[0]?.id)
    if (picked === SKIP) return false
    const vault = await ctx.vaults.load(picked)
    if (vault.protection !== 'plaintext') vaultId = picked
    else {
      warn(plaintextWarning(ctx, vault, k.key))
      if (await prompt.confirm(`store ${k.key} in plaintext?`, false)) vaultId = picked
    }
  }
  const input = { key: k.key, env: k.setEnv, vault: vaultId, mech: mechId }
  const { mech, vault, needs } = await resolveSetPlan(ctx, input)
  for (;;) {
    try {
      // inside the try: typed input that is not a storable secret (not UTF-8) can be typed again
      const source: Pick<SetInput, 'secret' | 'exid'> = mech.ask
        ? await mech.ask(ctx, { key: k.key, env: k.setEnv })
        : needs === 'exid'
          ? { exid: await prompt.text(`the reference for ${k.key} in ${vault.id}`) }
          : needs === 'secret'
            ? { secret: await prompt.secret(`secret for ${k.key} (input hidden)`) }
            : {}
      const result = await set(ctx, { ...input, ...source })
      // the plaintext warning was given before the human confirmed it
      for (const line of result.warnings) if (line !== plaintextWarning(ctx, vault, k.key)) warn(line)
      say(`set ${result.slug} in ${result.vault} via ${result.mech} (grade ${result.grade.protection},${result.grade.duration}); round trip verified`)
      return true
    } catch (error) {
      // the firewall, or a secret that cannot be stored: say why, then let the human retry or move on
      if (!(error instanceof KeyrackKeyBlockedError || error instanceof KeyrackSecretInvalidError)) throw error
      warn(error.message)
      for (const line of error.hint) notify({ level: 'hint', message: line })
      const next = await prompt.select(`${k.key} was not stored`, [
        { value: 'retry', label: 'type another secret' },
        { value: SKIP, label: `skip ${k.key} for now` },
      ])
      if (next === SKIP) return false
    }
  }
}

export const fillCommand = (plan: { env: string; owner: string }): string => `keyrack fill --env ${plan.env}${ownerFlag(plan)}`

export function summary(plan: FillPlan): string {
  const granted = plan.keys.filter((k) => k.action === 'none').length
  const parts = [`${granted} of ${plan.keys.length} ready`]
  if (plan.absent.length) parts.push(`absent: ${plan.absent.join(', ')}`)
  if (plan.locked.length) parts.push(`locked: ${plan.locked.join(', ')}`)
  if (plan.blocked.length) parts.push(`blocked: ${plan.blocked.join(', ')}`)
  return parts.join('; ')
}

/** no terminal: nothing can be asked, so say exactly what to run instead */
function noTerminal(plan: FillPlan): KeyrackNoTerminalError {
  const mechUnknown = plan.keys.some((k) => k.setCommand?.includes('--mech <mech>'))
  return new KeyrackNoTerminalError(`no terminal to fill env ${plan.env} in (${summary(plan)})`, [
    ...(plan.initialized ? [] : [`first create the keyrack of owner '${plan.owner}': \`${plan.commands[0]}\``]),
    ...plan.keys.filter((k) => k.action === 'set').map((k) => `run: \`${k.setCommand}\``),
    ...(plan.unlockCommand ? [`run: \`${plan.unlockCommand}\``] : []),
    ...plan.keys.filter((k) => k.maybeAbsent && k.setCommand).map((k) => `if ${k.key} was never set: \`${k.setCommand}\``),
    ...plan.keys.filter((k) => k.action === 'replace' || k.action === 'remote').flatMap((k) => k.hint.map((line) => `${k.key}: ${line}`)),
    ...(mechUnknown ? ['choose the mech: `keyrack set --help` lists them (e.g. PERMANENT_VIA_REPLICA for keys with no short-lived alternative)'] : []),
    `or run \`${fillCommand(plan)}\` on a terminal; scripts pipe each secret into its set command with \`--secret-stdin\`${firstSet(plan) ? `, e.g. \`printf %s "$SECRET" | ${firstSet(plan)} --secret-stdin\`` : ''}`,
  ])
}

/** a complete `keyrack set …` of the plan (no placeholder), to show how a script pipes a secret in */
const firstSet = (plan: FillPlan): string | undefined => plan.keys.find((k) => k.action === 'set' && k.setCommand && !k.setCommand.includes('<'))?.setCommand
