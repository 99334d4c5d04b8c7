/**
 * os.keychain: the keychain the OS already gives the user — the Secret Service on Linux (GNOME
 * Keyring, KWallet) through `secret-tool`, the login keychain on macOS through `security`.
 *
 * Items are named so a user finds them in Seahorse or Keychain Access: service `keyrack`,
 * account `<owner>:<slug>`, and a label that says which key it is. No exid is recorded: the owner
 * and the slug name the item.
 *
 * It has its own lock (the keyring's, the keychain's), so it is a LockableVault: `unlock` opens it
 * once — through the OS's own prompt, or on macOS without a desktop by asking the human for the
 * keychain password, which goes to `security` on stdin and is dropped — and then reads every key;
 * `get` only ever sees what an unlock put into the daemon. keyrack never keeps the keychain's own
 * password.
 *
 * Secrets reach the tools on stdin only, never in argv. Each tool carries a bounded secret (see
 * the backends): a longer one is refused before anything is stored, with os.secure as the way out.
 *
 * Which backend: the context's platform port, so tests select the macOS path the way the product
 * does. Each backend loads only when used (a `get` the daemon answers loads none).
 */
import type { Context } from '../context.ts'
import { KeyrackVaultError, KeyrackVaultUnavailableError } from '../domain/errors.ts'
import { keychainItem, OS_SECURE_HINT, SECRET_TOOL, SECURITY_TOOL, type KeychainBackend } from './keychain/shared.ts'
import type { Availability, LockableVault } from './vault.ts'

/** the Secret Service speaks D-Bus, which Linux and the BSDs have; macOS has its own keychain */
const SECRET_SERVICE_PLATFORMS: readonly NodeJS.Platform[] = ['linux', 'freebsd', 'openbsd', 'netbsd']

async function backendFor(ctx: Context): Promise<KeychainBackend | null> {
  if (ctx.platform === 'darwin') return (await import('./keychain/macos.ts')).macosKeychain
  if (SECRET_SERVICE_PLATFORMS.includes(ctx.platform)) return (await import('./keychain/secret-service.ts')).secretService
  return null
}

const unsupported = (ctx: Context): Availability & { available: false } => ({
  available: false,
  reason: `keyrack knows no OS keychain on ${ctx.platform} (it uses the Secret Service on Linux and the login keychain on macOS)`,
  hint: [OS_SECURE_HINT],
})

async function backend(ctx: Context): Promise<KeychainBackend> {
  const found = await backendFor(ctx)
  if (found) return found
  const { reason, hint } = unsupported(ctx)
  throw new KeyrackVaultUnavailableError(`vault os.keychain cannot be used here: ${reason}`, hint)
}

export const osKeychainVault: LockableVault = {
  id: 'os.keychain',
  protection: 'encrypted',
  description: 'your OS keychain: the Secret Service (GNOME Keyring, KWallet) on Linux, the login keychain on macOS',
  stores: ['secret'],
  // the tool of the machine keyrack runs on, for doctor and the install hint
  get tool() {
    return process.platform === 'darwin' ? SECURITY_TOOL : SECRET_TOOL
  },
  where: (ctx) =>
    ctx.platform === 'darwin'
      ? 'your login keychain (Keychain Access), service "keyrack"'
      : 'your Secret Service keyring (Seahorse: Passwords and Keys), service "keyrack"',
  async isAvailable(ctx) {
    const found = await backendFor(ctx)
    return found ? found.isAvailable(ctx) : unsupported(ctx)
  },
  async unlock({ ctx }) {
    await (await backend(ctx)).unlock(ctx)
  },
  async set({ ctx }, { slug, secret }) {
    if (secret === undefined) throw new KeyrackVaultError('os.keychain stores a secret, and none was given', [])
    await (await backend(ctx)).store(ctx, keychainItem(ctx, slug), secret)
    return { exid: null }
  },
  async get({ ctx }, { slug }) {
    return (await backend(ctx)).read(ctx, keychainItem(ctx, slug))
  },
  async del({ ctx }, { slug }) {
    await (await backend(ctx)).remove(ctx, keychainItem(ctx, slug))
  },
}
export default osKeychainVault
