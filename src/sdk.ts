/**
 * The keyrack SDK: the same operations as the CLI, with typed results and typed errors.
 * It never prints and never exits; every call returns a promise, so even a bad option (an
 * invalid owner name) arrives as a rejection, never as a synchronous throw.
 *
 * @example
 * ```ts
 * import { keyrack } from 'keyrack'
 * const { grants } = await keyrack.get({ for: 'repo', env: 'test' })
 * ```
 */
import { createContext, type ContextOptions } from './context.ts'
import { del as delOp, type DelInput } from './sdk/del.ts'
import { exec as execOp, type ExecInput } from './sdk/exec.ts'
import { fill as fillOp, type FillInput, type FillNotice } from './sdk/fill.ts'
import { fillPlan as fillPlanOp, type FillPlanInput } from './sdk/fill-plan.ts'
import { get as getOp, type GetInput } from './sdk/get.ts'
import { init as initOp, type InitInput } from './sdk/init.ts'
import { list as listOp } from './sdk/list.ts'
import { addRecipients, listRecipients, removeRecipients, type RecipientsChangeInput } from './sdk/recipients.ts'
import { set as setOp, type SetInput } from './sdk/set.ts'
import { unlock as unlockOp, type UnlockInput } from './sdk/unlock.ts'
import { relock as relockOp, type RelockInput } from './sdk/relock.ts'
import { status as statusOp } from './sdk/status.ts'
import { doctor as doctorOp } from './sdk/doctor.ts'
import { importKeys, type ImportInput } from './sdk/import.ts'

/** where and as whom to act: owner, KEYRACK_HOME, cwd, environment, passphrase source */
export type KeyrackOptions = ContextOptions

export const keyrack = {
  /** creates the owner's identity and empty host manifest */
  init: async (input: InitInput & KeyrackOptions = {}) => initOp(createContext(input), input),
  /** stores a key and proves the round trip */
  set: async (input: SetInput & KeyrackOptions) => setOp(createContext(input), input),
  /** the allowlisted keys of a repo env (`for: 'repo'`) or one key; all or nothing */
  get: async (input: GetInput & KeyrackOptions) => getOp(createContext(input), input),
  /**
   * what `keyrack fill` would do for a repo env: each key's state and the exact command that
   * makes it granted (set / unlock / replace); never prompts by itself, never a secret
   */
  fillPlan: async (input: FillPlanInput & KeyrackOptions = {}) => fillPlanOp(createContext(input), input),
  /**
   * the guided `keyrack fill`: unlock what is locked, a guided `set` for what is absent. It asks
   * through `prompt` (a human at a terminal; without one it throws KeyrackNoTerminalError with the
   * exact commands) and reports progress to `onNotice`; it returns the final plan
   */
  fill: async (input: FillInput & KeyrackOptions & { onNotice?: (notice: FillNotice) => void } = {}) => fillOp(createContext(input), input, input.onNotice),
  /** runs a command with the granted keys in its environment */
  exec: async (input: ExecInput & KeyrackOptions) => execOp(createContext(input), input),
  /** the owner's host manifest entries, never a secret */
  list: async (input: KeyrackOptions = {}) => listOp(createContext(input)),
  /** removes a key and its stored secret */
  del: async (input: DelInput & KeyrackOptions) => delOp(createContext(input), input),
  /** who can decrypt the owner's files; add/remove re-encrypt all of them, all or nothing */
  recipients: {
    list: async (input: KeyrackOptions = {}) => listRecipients(createContext(input)),
    add: async (input: RecipientsChangeInput & KeyrackOptions) => addRecipients(createContext(input), input),
    remove: async (input: RecipientsChangeInput & KeyrackOptions) => removeRecipients(createContext(input), input),
  },
  /** decrypts the allowlisted keys once and hands them to the owner's in-memory daemon */
  unlock: async (input: UnlockInput & KeyrackOptions) => unlockOp(createContext(input), input),
  /** forgets unlocked keys (all, or by key/env); the daemon stops when empty */
  relock: async (input: RelockInput & KeyrackOptions = {}) => relockOp(createContext(input), input),
  /** the owner's daemon and its unlocked keys, never a secret */
  status: async (input: KeyrackOptions = {}) => statusOp(createContext(input)),
  /**
   * brings rhachet's keyrack of the owner (human ↔ rhachet's default owner) into keyrack: same vault,
   * mech and timestamps, all or nothing, rhachet's files only read; `dryRun` returns the plan
   */
  import: async (input: ImportInput & KeyrackOptions) => importKeys(createContext(input), input),
  /** checks the environment keyrack depends on; each check says what to fix (`checkUpdates`: ask GitHub for the latest release) */
  doctor: async (input: KeyrackOptions & { checkUpdates?: boolean } = {}) =>
    doctorOp(createContext(input), { version: 'sdk', checkUpdates: input.checkUpdates }),
}
