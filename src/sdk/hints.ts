/** the exact next commands keyrack suggests, built in one place so every message agrees */
import type { Context } from '../context.ts'
import { DEFAULT_OWNER } from '../domain/names.ts'

const ownerFlag = (ctx: Context): string => (ctx.owner === DEFAULT_OWNER ? '' : ` --owner ${ctx.owner}`)

export const hints = {
  set: (ctx: Context, input: { key: string; env: string; mech?: string; vault?: string }): string =>
    `keyrack set --key ${input.key} --env ${input.env} --vault ${input.vault ?? 'os.secure'} --mech ${input.mech ?? '<mech>'}${ownerFlag(ctx)}`,
  unlockRepo: (ctx: Context, env: string): string => `ask a human to run \`keyrack unlock --for repo --env ${env}${ownerFlag(ctx)}\``,
  unlockKey: (ctx: Context, key: string, env: string): string => `ask a human to run \`keyrack unlock --key ${key} --env ${env}${ownerFlag(ctx)}\``,
  init: (ctx: Context): string => `keyrack init${ownerFlag(ctx)}`,
  del: (ctx: Context, key: string, env: string): string => `keyrack del --key ${key} --env ${env}${ownerFlag(ctx)}`,
  importRhachet: (ctx: Context): string => `keyrack import --from rhachet${ownerFlag(ctx)}`,
}
