import { defineCommand } from 'citty'
import { paths, type Context } from '../../context.ts'
import { DEFAULT_OWNER } from '../../domain/names.ts'
import { EXIT_CODES, KeyrackKeyAbsentError, KeyrackKeyBlockedError, KeyrackUsageError } from '../../domain/errors.ts'
import { fillPlan, vaultChoices, type FillPlan, type FillPlanKey } from '../../sdk/fill-plan.ts'
import { isInteractive, passphraseSource, readHidden, rememberPassphrase } from '../io.ts'
import { cancelled, confirm, isCancelled, select } from '../prompt.ts'
import { table } from '../render.ts'
import { action, hint, say, warn, writeStdout } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

const SKIP = '__skip__'

export default defineCommand({
  meta: {
    name: 'fill',
    description: "get every key the repo allowlists for an env ready: unlock what is locked, guide a `set` for what is absent\n\n" +
      'on a terminal only (without one it lists the exact commands to run, and exits 2)\n\n' +
      'examples:\n  keyrack fill --env test\n  keyrack fill --env test --vault os.secure --mech PERMANENT_VIA_REPLICA   # only secrets to type',
  },
  args: {
    env: { type: 'string', description: 'the env to fill: test, prep, prod, …', valueHint: 'env' },
    vault: { type: 'string', description: 'store every absent key in this vault instead of asking (os.secure | os.direct)', valueHint: 'vault' },
    mech: { type: 'string', description: "use this mech for every absent key whose repo manifest entry requires none, instead of asking", valueHint: 'MECH' },
    ...ownerArgs,
  },
  run: action(async (args) => {
    const choices = { vault: args.vault, mech: args.mech }
    // refuse unknown flags' values before anything else happens
    if (args.vault) await import('../../vaults/index.ts').then((m) => m.loadVault(args.vault!))
    if (args.mech) await import('../../mechs/index.ts').then((m) => m.loadMech(args.mech!))
    const robot = cliContext(args)
    let plan = await fillPlan(robot, { env: args.env, ...choices })
    if (!isInteractive()) {
      if (!plan.ready) throw noTerminal(plan)
      return printResult(plan)
    }
    if (!plan.initialized)
      throw new KeyrackUsageError(`owner '${plan.owner}' has no keyrack yet`, [`create it: \`${plan.commands[0]}\`, then run \`${fillCommand(plan)}\` again`])

    // fill holds secrets for a moment, as unlock does: no core dumps, no same-user ptrace
    const { hardenProcess } = await import('../../daemon/harden.ts')
    hardenProcess()
    const passphrase = rememberPassphrase(passphraseSource({})!)
    const ctx = cliContext(args, passphrase)
    const filled: string[] = []
    try {
      if (plan.keys.some((k) => k.maybeAbsent)) {
        say(`locked: ${plan.locked.join(', ')}; your passphrase unlocks them (and tells which were never set)`)
        plan = await fillPlan(ctx, { env: plan.env, ...choices })
      }
      say(`env ${plan.env} of owner '${plan.owner}': ${summary(plan)}`)
      const absent = plan.keys.filter((k) => k.action === 'set')
      // validate every choice already made before anyone types a secret
      const { resolveSetPlan } = await import('../../sdk/set.ts')
      for (const k of absent) {
        const mech = k.requiredMech ?? choices.mech
        if (k.fillable && mech && choices.vault) await resolveSetPlan(ctx, { key: k.key, env: k.setEnv, vault: choices.vault, mech })
      }
      for (const k of absent) if (await guidedSet(ctx, k, choices)) filled.push(k.key)
      for (const k of plan.keys.filter((k) => k.action === 'replace')) {
        warn(`${k.key} is blocked: ${k.reason ?? ''}`)
        for (const line of k.hint) hint(line)
      }

      // what is set but not unlocked (including what was just set): one unlock, one passphrase
      plan = await fillPlan(ctx, { env: plan.env, ...choices })
      if (plan.locked.length > 0) {
        say(`unlocking ${plan.locked.join(', ')}`)
        const { unlock } = await import('../../sdk/unlock.ts')
        try {
          const result = await unlock(ctx, { for: 'repo', env: plan.env })
          for (const k of result.unlocked) say(`unlocked ${k.slug} until ${new Date(k.expiresAt).toISOString()}`)
          for (const s of result.skipped) if (plan.locked.includes(s.key)) warn(`${s.key}: ${s.reason}`)
        } catch (error) {
          if (!(error instanceof KeyrackKeyAbsentError || error instanceof KeyrackKeyBlockedError)) throw error
          warn(error.message)
          for (const line of error.hint) hint(line)
        }
      }
    } catch (error) {
      if (isCancelled(error))
        throw cancelled([
          filled.length ? `${filled.join(', ')} ${filled.length === 1 ? 'was' : 'were'} set and verified before that; nothing else was written` : 'nothing was written',
          `continue with \`${fillCommand(plan)}\``,
        ])
      throw error
    } finally {
      passphrase.forget()
    }
    // the result as `get` sees it, with no prompt
    await printResult(await fillPlan(robot, { env: plan.env, ...choices }))
  }),
})

/** one absent key: its mech (required, --mech, or chosen), its vault (--vault or chosen), its secret; true when set */
async function guidedSet(ctx: Context, k: FillPlanKey, choices: { vault?: string; mech?: string }): Promise<boolean> {
  const where = k.setEnv === k.env ? `env ${k.env}` : 'env.all: one key for every env'
  say(`${k.key} (${where}) is not set`)
  if (!k.fillable) {
    warn(`the repo requires mech ${k.requiredMech} for ${k.key}, which this version of keyrack cannot set up; skipped`)
    return false
  }
  let mech = k.requiredMech ?? choices.mech
  if (k.requiredMech) say(`mech: ${k.requiredMech} (required by the repo manifest)`)
  else if (mech) say(`mech: ${mech} (--mech)`)
  if (!mech) {
    const { AVAILABLE_MECH_IDS, loadMech } = await import('../../mechs/index.ts')
    const mechs = await Promise.all(AVAILABLE_MECH_IDS.map(loadMech))
    mech = await select(`how should ${k.key} become a usable key? (keyrack has no default mech)`, [
      ...mechs.map((m) => ({ value: m.id, label: `${m.id} — ${m.description}` })),
      { value: SKIP, label: `skip ${k.key} for now` },
    ])
    if (mech === SKIP) return false
  }
  const mechId: string = mech
  let vault = choices.vault
  if (vault) say(`vault: ${vault} (--vault)`)
  while (!vault) {
    const vaults = await vaultChoices(mechId, k.requiredGrade)
    const picked = await select(`where should ${k.key} be stored?`, [
      ...vaults.map((v) => ({ value: v.id, label: `${v.id} (${v.protection})` })),
      { value: SKIP, label: `skip ${k.key} for now` },
    ], vaults[0]?.id)
    if (picked === SKIP) return false
    if (picked !== 'os.direct') vault = picked
    else {
      warn(`os.direct stores ${k.key} in plaintext in ${paths.direct(ctx)}: any process running as you can read it`)
      if (await confirm(`store ${k.key} in plaintext?`, false)) vault = picked
    }
  }
  const { resolveSetPlan, set } = await import('../../sdk/set.ts')
  const input = { key: k.key, env: k.setEnv, vault, mech: mechId }
  await resolveSetPlan(ctx, input)
  for (;;) {
    const secret = await readHidden(`keyrack: secret for ${k.key} (input hidden): `)
    try {
      const result = await set(ctx, { ...input, secret })
      for (const line of result.warnings) if (!line.startsWith('os.direct stores')) warn(line)
      say(`set ${result.slug} in ${result.vault} via ${result.mech} (grade ${result.grade.protection},${result.grade.duration}); round trip verified`)
      return true
    } catch (error) {
      // the firewall (or an empty secret): say why, then let the human retry or move on
      const retryable = error instanceof KeyrackKeyBlockedError || (error instanceof KeyrackUsageError && error.message === 'the secret is empty')
      if (!retryable) throw error
      warn(error.message)
      for (const line of error.hint) hint(line)
      const next = await select(`${k.key} was not stored`, [
        { value: 'retry', label: 'type another secret' },
        { value: SKIP, label: `skip ${k.key} for now` },
      ])
      if (next === SKIP) return false
    }
  }
}

const fillCommand = (plan: { env: string; owner: string }): string => `keyrack fill --env ${plan.env}${plan.owner === DEFAULT_OWNER ? '' : ` --owner ${plan.owner}`}`

function summary(plan: FillPlan): string {
  const granted = plan.keys.filter((k) => k.action === 'none').length
  const parts = [`${granted} of ${plan.keys.length} ready`]
  if (plan.absent.length) parts.push(`absent: ${plan.absent.join(', ')}`)
  if (plan.locked.length) parts.push(`locked: ${plan.locked.join(', ')}`)
  if (plan.blocked.length) parts.push(`blocked: ${plan.blocked.join(', ')}`)
  return parts.join('; ')
}

/** no terminal: nothing can be asked, so say exactly what to run instead */
function noTerminal(plan: FillPlan): KeyrackUsageError {
  const mechUnknown = plan.keys.some((k) => k.setCommand?.includes('--mech <mech>'))
  return new KeyrackUsageError(`no terminal to fill env ${plan.env} in (${summary(plan)})`, [
    ...(plan.initialized ? [] : [`first create the keyrack of owner '${plan.owner}': \`${plan.commands[0]}\``]),
    ...plan.keys.filter((k) => k.action === 'set').map((k) => `run: \`${k.setCommand}\``),
    ...(plan.unlockCommand ? [`run: \`${plan.unlockCommand}\``] : []),
    ...plan.keys.filter((k) => k.maybeAbsent && k.setCommand).map((k) => `if ${k.key} was never set: \`${k.setCommand}\``),
    ...plan.keys.filter((k) => k.action === 'replace').flatMap((k) => k.hint.map((line) => `${k.key}: ${line}`)),
    ...(mechUnknown ? ['choose the mech: `keyrack set --help` lists them (e.g. PERMANENT_VIA_REPLICA for keys with no short-lived alternative)'] : []),
    `or run \`${fillCommand(plan)}\` on a terminal; scripts pipe each secret in: \`printf %s "$SECRET" | keyrack set … --secret-stdin\``,
  ])
}

/** the per-key result, never a secret; exit non-zero unless every required key is granted */
async function printResult(plan: FillPlan): Promise<void> {
  await writeStdout(
    table(
      ['KEY', 'STATE', 'GRADE', 'VAULT', 'MECH', 'EXPIRES'],
      plan.keys.map((k) => [
        k.key, k.optional ? 'optional' : k.state,
        k.grade ? `${k.grade.protection},${k.grade.duration}` : '', k.vault ?? '', k.mech ?? '',
        k.expiresAt ? new Date(k.expiresAt).toISOString() : '',
      ]),
    ),
  )
  if (plan.ready) return say(`env ${plan.env} is ready: \`keyrack get --for repo --env ${plan.env}\` grants every key`)
  say(`env ${plan.env} is not ready (${summary(plan)})`)
  for (const line of new Set(plan.keys.flatMap((k) => (k.action === 'none' ? [] : k.hint)))) hint(line)
  process.exitCode = plan.blocked.length > 0 ? EXIT_CODES.blocked : EXIT_CODES.keyUnavailable
}
