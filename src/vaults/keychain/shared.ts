/**
 * What the os.keychain vault (../os.keychain.ts) and its two OS backends share: how a key's item
 * is named, the tools, and the errors every backend words the same way.
 */
import type { Context } from '../../context.ts'
import { KeyrackKeyLockedError, KeyrackSecretInvalidError, KeyrackVaultError } from '../../domain/errors.ts'
import { printable } from '../../domain/printable.ts'
import type { SpawnResult, ToolInfo } from '../../ports.ts'
import type { Availability } from '../vault.ts'

/** what one OS's keychain does; the vault is the same on every OS */
export interface KeychainBackend {
  readonly tool: ToolInfo
  isAvailable(ctx: Context): Promise<Availability>
  /** opens the keychain's lock, once per operation; may prompt through the OS (or `ctx.prompt`) */
  unlock(ctx: Context): Promise<void>
  /** creates or replaces the item; refuses (storing nothing) a secret the tool cannot take exactly */
  store(ctx: Context, item: KeychainItem, secret: string): Promise<void>
  /** the secret, or null when there is no such item; KeyrackKeyLockedError when the keychain is locked */
  read(ctx: Context, item: KeychainItem): Promise<string | null>
  /** removes the item; a missing one is not an error */
  remove(ctx: Context, item: KeychainItem): Promise<void>
}

/** how keyrack names a key's item, so a user finds it in Seahorse or Keychain Access */
export interface KeychainItem {
  service: string
  /** `<owner>:<slug>`: one item per owner and key */
  account: string
  label: string
}

export const KEYCHAIN_SERVICE = 'keyrack'

export function keychainItem(ctx: Context, slug: string): KeychainItem {
  return { service: KEYCHAIN_SERVICE, account: `${ctx.owner}:${slug}`, label: `keyrack: ${slug} (owner ${ctx.owner})` }
}

export const SECRET_TOOL: ToolInfo = {
  name: 'secret-tool',
  install: {
    linux: 'sudo apt-get install libsecret-tools gnome-keyring dbus-user-session',
    default: 'install libsecret (secret-tool) and a Secret Service such as GNOME Keyring',
  },
  purpose: 'vault os.keychain (the Secret Service)',
}

export const SECURITY_TOOL: ToolInfo = {
  name: 'security',
  install: { darwin: 'it ships with macOS as /usr/bin/security: put /usr/bin on your PATH', default: 'the macOS keychain needs macOS' },
  purpose: 'vault os.keychain (the macOS keychain)',
}

/** the way out every keychain error offers: the vault that needs no OS service */
export const OS_SECURE_HINT = 'or keep the key in an age-encrypted file, which works everywhere: the same `keyrack set` with `--vault os.secure`'

/** the first line a tool said on stderr, fit for a message: printable, short, never a secret */
export function toolSaid(result: SpawnResult, secret?: string): string {
  let line = result.stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? ''
  // a tool has no business echoing the secret, but a message must never carry one anyway
  if (secret && secret.length >= 4 && line.includes(secret)) line = line.replaceAll(secret, '[secret]')
  line = printable(line)
  return line.length > 200 ? `${line.slice(0, 200)}…` : line
}

/** a tool failed in a way keyrack has no better words for */
export function toolFailed(tool: string, action: string, result: SpawnResult, secret?: string): KeyrackVaultError {
  const said = toolSaid(result, secret)
  return new KeyrackVaultError(`${tool} could not ${action} (exit ${result.code})${said ? `: ${said}` : ''}`, [
    'check the keychain with `keyrack doctor`, then try again',
  ])
}

/** the keychain is locked and could not be opened here */
export function keychainLocked(what: string, how: string[]): KeyrackKeyLockedError {
  return new KeyrackKeyLockedError(`${what} is locked`, [...how, OS_SECURE_HINT])
}

/** a secret longer than the tool can carry exactly: refused before anything is stored */
export function secretTooLong(tool: string, limit: string, bytes: number): KeyrackSecretInvalidError {
  return new KeyrackSecretInvalidError(`the secret is ${bytes} bytes, and ${tool} carries at most ${limit} into the keychain; nothing was stored`, [
    `store it in an age-encrypted file instead (no size limit): the same \`keyrack set\` with \`--vault os.secure\``,
  ])
}
