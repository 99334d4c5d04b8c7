/**
 * The Secret Service (freedesktop.org; GNOME Keyring, KWallet) through libsecret's `secret-tool`:
 *
 *   secret-tool store --label=L service keyrack account OWNER:SLUG   the secret on stdin
 *   secret-tool lookup service keyrack account OWNER:SLUG            the secret on stdout, as stored
 *   secret-tool clear service keyrack account OWNER:SLUG
 *   secret-tool search --unlock service keyrack                      opens the keyring's lock
 *
 * What secret-tool does that shapes this file (libsecret 0.20, checked against the real tool
 * under a private D-Bus session in tests/acceptance/keychain.test.ts):
 *  - `store` reads at most 8191 bytes from stdin; a longer secret is cut to 8192 bytes, with a
 *    warning but exit 0. So a longer one is refused here, before anything is stored.
 *  - `lookup` exits 1 and says nothing both when there is no such item and when the keyring is
 *    locked; `clear` likewise. A silent failure is therefore followed by a `search` (which lists
 *    a locked item without its secret) to tell "absent" from "locked".
 *  - a locked keyring is opened through the Secret Service's own prompt (the desktop's unlock
 *    dialog). `search --unlock` asks once for the whole keyring, so `unlock` does that first and
 *    the reads that follow (concurrent) find it open. With no desktop to show the prompt, it
 *    stays locked: "Cannot get secret of a locked object".
 *  - with no session bus (a headless server, a container) nothing works: say so, with the
 *    packages, and os.secure as the way out.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Context } from '../../context.ts'
import { KeyrackVaultUnavailableError } from '../../domain/errors.ts'
import type { SpawnResult } from '../../ports.ts'
import { findOnPath } from '../../runtime/spawn.ts'
import type { Availability } from '../vault.ts'
import { keychainLocked, OS_SECURE_HINT, SECRET_TOOL, secretTooLong, toolFailed, toolSaid, type KeychainBackend, type KeychainItem } from './shared.ts'

/** secret-tool's stdin buffer: 8192 bytes, of which a secret may fill all but one without being cut */
export const SECRET_TOOL_MAX_BYTES = 8191
/** a human may be answering the desktop's unlock prompt */
const PROMPT_TIMEOUT_MS = 5 * 60_000

const attributes = (item: KeychainItem) => ['service', item.service, 'account', item.account]

const run = (ctx: Context, args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<SpawnResult> =>
  ctx.spawn({ argv: ['secret-tool', ...args], tool: SECRET_TOOL, ...options })

/** secret-tool's words for "there is no Secret Service to talk to" */
const NO_SERVICE = /autolaunch D-Bus|DBUS_SESSION_BUS_ADDRESS|Could not connect|not provided by any \.service files|ServiceUnknown|was not activated|Failed to execute program/i
/** …and for "there is one, but it has no default keyring (and could not ask to create one)" */
const NO_KEYRING = /Object does not exist at path .*collection|No such object path .*collection|no default collection/i
const LOCKED = /locked/i

function noSecretService(reason: string): Availability & { available: false } {
  return {
    available: false,
    reason: `no Secret Service here: ${reason}`,
    hint: [
      `a Secret Service runs in a desktop login session (GNOME Keyring, KWallet); on Debian/Ubuntu: \`${SECRET_TOOL.install.linux}\`, then log in again`,
      OS_SECURE_HINT,
    ],
  }
}

function unavailable(availability: Availability & { available: false }): KeyrackVaultUnavailableError {
  return new KeyrackVaultUnavailableError(`vault os.keychain cannot be used here: ${availability.reason}`, availability.hint)
}

const LOCKED_HOW = [
  'unlock it in your desktop session (Seahorse: Passwords and Keys → Login → Unlock, or log in again), then run the keyrack command again',
]

/** a failure secret-tool explained on stderr */
function failure(action: string, result: SpawnResult, secret?: string): Error {
  const said = toolSaid(result, secret)
  if (NO_SERVICE.test(result.stderr)) return unavailable(noSecretService(said))
  if (NO_KEYRING.test(result.stderr))
    return unavailable({
      available: false,
      reason: `the Secret Service has no default keyring, and could not ask you to create one (${said})`,
      hint: ['create a "Login" keyring in Seahorse (Passwords and Keys), or log in to a desktop session once, then try again', OS_SECURE_HINT],
    })
  if (LOCKED.test(result.stderr)) return keychainLocked('your Secret Service keyring', LOCKED_HOW)
  return toolFailed('secret-tool', action, result, secret)
}

/** does the service hold the item? (`search` lists a locked item too, without its secret) */
async function holds(ctx: Context, item: KeychainItem): Promise<boolean> {
  const result = await run(ctx, ['search', ...attributes(item)])
  if (result.code !== 0 && result.stderr.trim() !== '') throw failure('search the keyring', result)
  return /^\[\//m.test(result.stdout)
}

/** a bus to reach the Secret Service on: the one named, the user's standard one, or X11's autolaunch */
function sessionBus(ctx: Context): boolean {
  const { DBUS_SESSION_BUS_ADDRESS: address, XDG_RUNTIME_DIR: runtime, DISPLAY: display } = ctx.env
  return Boolean(address || display || (runtime && existsSync(join(runtime, 'bus'))))
}

export const secretService: KeychainBackend = {
  tool: SECRET_TOOL,

  async isAvailable(ctx) {
    if (!findOnPath(SECRET_TOOL.name, ctx.env.PATH))
      return { available: false, reason: 'secret-tool is not installed (libsecret-tools)', hint: [`install it: \`${SECRET_TOOL.install.linux}\``, OS_SECURE_HINT] }
    if (!sessionBus(ctx)) return noSecretService('no D-Bus session bus (a headless server or a container?)')
    // an item nobody has: answers without prompting, and proves the service is there
    const probe = await run(ctx, ['search', 'service', 'keyrack', 'account', 'keyrack-availability-probe'])
    if (probe.code !== 0 && probe.stderr.trim() !== '') {
      const error = failure('reach the Secret Service', probe)
      if (error instanceof KeyrackVaultUnavailableError) return { available: false, reason: error.message.replace(/^vault os\.keychain cannot be used here: /, ''), hint: error.hint }
      return { available: false, reason: error.message, hint: [OS_SECURE_HINT] }
    }
    return { available: true, detail: 'the Secret Service on the session bus (secret-tool)' }
  },

  async unlock(ctx) {
    const availability = await this.isAvailable(ctx)
    if (!availability.available) throw unavailable(availability)
    // one prompt for the whole keyring: `search --unlock` opens the collection that holds the
    // first keyrack item (its output, a secret included, is read and dropped here)
    const result = await run(ctx, ['search', '--unlock', 'service', 'keyrack'], { timeoutMs: PROMPT_TIMEOUT_MS })
    if (result.code !== 0 || LOCKED.test(result.stderr)) throw failure('unlock the keyring', result)
  },

  async store(ctx, item, secret) {
    const bytes = Buffer.byteLength(secret, 'utf8')
    if (bytes > SECRET_TOOL_MAX_BYTES) throw secretTooLong('secret-tool', `${SECRET_TOOL_MAX_BYTES} bytes`, bytes)
    // the first item of a locked keyring may bring up the unlock prompt
    const result = await run(ctx, ['store', `--label=${item.label}`, ...attributes(item)], { stdin: secret, timeoutMs: PROMPT_TIMEOUT_MS })
    // secret-tool cuts an overlong secret with a warning and exit 0: the length check above keeps
    // that from happening, and the warning is treated as the failure it is
    if (result.code !== 0 || /too long/i.test(result.stderr)) throw failure('store the secret', result, secret)
  },

  async read(ctx, item) {
    const result = await run(ctx, ['lookup', ...attributes(item)])
    if (result.code === 0) return result.stdout
    if (result.stderr.trim() !== '') throw failure('read the secret', result)
    // silent: no such item, or a locked keyring
    if (await holds(ctx, item)) throw keychainLocked('your Secret Service keyring', LOCKED_HOW)
    return null
  },

  async remove(ctx, item) {
    let result = await run(ctx, ['clear', ...attributes(item)])
    if (result.code === 0) return
    if (result.stderr.trim() !== '') throw failure('remove the item', result)
    if (!(await holds(ctx, item))) return
    // there, and clear said nothing: the keyring is locked. Open it (the OS may prompt) and retry once
    await this.unlock(ctx)
    result = await run(ctx, ['clear', ...attributes(item)])
    if (result.code !== 0 && (await holds(ctx, item))) throw keychainLocked('your Secret Service keyring', LOCKED_HOW)
  },
}
