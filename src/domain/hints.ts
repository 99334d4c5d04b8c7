/**
 * The exact next commands keyrack suggests, built in one place so every message agrees.
 * Pure strings: they take the owner (any object with `owner`, such as the Context), never a secret.
 */
import { DEFAULT_OWNER } from './names.ts'
import { vaultForHint } from './ids.ts'

export interface Owned {
  readonly owner: string
}

/** ` --owner NAME` for any owner but the default, so a pasted hint acts on the same owner */
export const ownerFlag = (who: Owned): string => (who.owner === DEFAULT_OWNER ? '' : ` --owner ${who.owner}`)

export const hints = {
  set: (who: Owned, input: { key: string; env: string; mech?: string; vault?: string }): string =>
    `keyrack set --key ${input.key} --env ${input.env} --vault ${vaultForHint(input.mech, input.vault)} --mech ${input.mech ?? '<mech>'}${ownerFlag(who)}`,
  unlockRepo: (who: Owned, env: string): string => `ask a human to run \`keyrack unlock --for repo --env ${env}${ownerFlag(who)}\``,
  unlockKey: (who: Owned, key: string, env: string): string => `ask a human to run \`keyrack unlock --key ${key} --env ${env}${ownerFlag(who)}\``,
  init: (who: Owned): string => `keyrack init${ownerFlag(who)}`,
  del: (who: Owned, key: string, env: string): string => `keyrack del --key ${key} --env ${env}${ownerFlag(who)}`,
  list: (who: Owned): string => `keyrack list${ownerFlag(who)}`,
  importRhachet: (who: Owned): string => `keyrack import --from rhachet${ownerFlag(who)}`,
}
