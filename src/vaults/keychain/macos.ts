/**
 * The macOS login keychain through /usr/bin/security (Apple's SecurityTool):
 *
 *   security -i   stdin: add-generic-password -U -s keyrack -a OWNER:SLUG -l LABEL -w "SECRET" | -X HEX
 *   security find-generic-password -s keyrack -a OWNER:SLUG -g     the password on stderr
 *   security delete-generic-password -s keyrack -a OWNER:SLUG
 *   security unlock-keychain -u                                    the OS's own unlock dialog
 *   security -i   stdin: unlock-keychain -p "PASSWORD"             no desktop: the password typed to keyrack
 *   security default-keychain
 *
 * What `security` does that shapes this file (SecurityTool/macOS: security.c, keychain_add.c,
 * keychain_find.c, keychain_utilities.c, readline.c):
 *  - add-generic-password takes the password only as an argument (-w, or -X as hex) or from
 *    getpass (128 characters, typed twice). So the whole command goes to `security -i` on stdin,
 *    which splits each line into arguments itself (`"…"` with backslash escapes): the process's
 *    argv never holds the secret.
 *  - interactive mode reads a line into a 4096-byte buffer: a longer one is cut, and the rest runs
 *    as a command of its own (and is echoed in its error). A line over 4094 bytes is therefore
 *    refused here, before `security` runs; at exactly 4095 the newline would be read as an empty
 *    command whose status 0 hides a failure.
 *  - a line cannot hold a newline: a secret with NUL, CR or LF goes as -X hex (bytes exact, half
 *    the room), every other one as -w "…".
 *  - `find -w` prints the password raw when every byte is printable and as hex otherwise, so
 *    "deadbeef" could be either. `-g` prints it on stderr as `"…"` (every byte printable, no
 *    backslash) or `0x<HEX>…`: unambiguous, so that is what is read.
 *  - the exit status is the OSStatus's low byte: 44 item not found, 45 duplicate item, 36 user
 *    interaction not allowed (a locked keychain with no desktop to ask on), 51 wrong password,
 *    128 the user cancelled the dialog. `-U` updates an existing item in place.
 */
import type { Context } from '../../context.ts'
import { KeyrackCancelledError, KeyrackSecretInvalidError, KeyrackVaultError, KeyrackVaultUnavailableError } from '../../domain/errors.ts'
import type { SpawnResult } from '../../ports.ts'
import { findOnPath } from '../../runtime/spawn.ts'
import { keychainLocked, OS_SECURE_HINT, SECURITY_TOOL, secretTooLong, toolFailed, toolSaid, type KeychainBackend, type KeychainItem } from './shared.ts'

/** the longest line `security -i` reads whole, newline included in its 4096-byte buffer */
export const SECURITY_MAX_LINE_BYTES = 4094
const PROMPT_TIMEOUT_MS = 5 * 60_000
const PASSWORD_TRIES = 3

export const SECURITY_STATUS = { itemNotFound: 44, duplicateItem: 45, interactionNotAllowed: 36, authFailed: 51, userCanceled: 128 } as const

const run = (ctx: Context, args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<SpawnResult> =>
  ctx.spawn({ argv: ['security', ...args], tool: SECURITY_TOOL, ...options })

/** an argument of an interactive line, as security's split_line reads it back */
export const quoteArg = (text: string): string => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`

/** the add-generic-password line for an item, and what part of it the secret takes */
export function addCommand(item: KeychainItem, secret: string): { line: string; form: 'quoted' | 'hex' } {
  const form = /[\0\r\n]/.test(secret) ? 'hex' : 'quoted'
  const data = form === 'hex' ? `-X ${Buffer.from(secret, 'utf8').toString('hex')}` : `-w ${quoteArg(secret)}`
  return { line: `add-generic-password -U -s ${quoteArg(item.service)} -a ${quoteArg(item.account)} -l ${quoteArg(item.label)} ${data}`, form }
}

/** the password `find-generic-password -g` printed on stderr (print_buffer's format) */
export function parseFoundPassword(stderr: string): string {
  const line = /^password: (.*)$/m.exec(stderr)
  if (!line) throw new KeyrackVaultError('security found the item but printed no password', ['check the keychain with `keyrack doctor`, then try again'])
  const shown = line[1]!
  if (shown === '') return ''
  const hex = /^0x([0-9A-Fa-f]*)/.exec(shown)
  if (hex) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(hex[1]!, 'hex'))
    } catch {
      throw new KeyrackVaultError('the keychain item holds bytes that are not text (UTF-8); keyrack did not store it', ['remove it in Keychain Access, then `keyrack set` the key again'])
    }
  }
  const quoted = /^"(.*)"$/.exec(shown)
  if (quoted) return quoted[1]!
  throw new KeyrackVaultError('security printed the password in a form keyrack does not know', ['check the keychain with `keyrack doctor`, then try again'])
}

const LOCKED_HOW = ['unlock it in a terminal: `security unlock-keychain`, then run the keyrack command again']

function failure(action: string, result: SpawnResult, secret?: string): Error {
  if (result.code === SECURITY_STATUS.interactionNotAllowed || result.code === SECURITY_STATUS.authFailed) return keychainLocked('your login keychain', LOCKED_HOW)
  if (result.code === SECURITY_STATUS.userCanceled) return new KeyrackCancelledError(['run the keyrack command again and answer the keychain dialog'])
  return toolFailed('security', action, result, secret)
}

export const macosKeychain: KeychainBackend = {
  tool: SECURITY_TOOL,

  async isAvailable(ctx) {
    if (!findOnPath(SECURITY_TOOL.name, ctx.env.PATH)) return { available: false, reason: 'security is not on PATH', hint: [SECURITY_TOOL.install.darwin!, OS_SECURE_HINT] }
    const result = await run(ctx, ['default-keychain'])
    const path = /"(.*)"/.exec(result.stdout)?.[1]
    if (result.code !== 0 || !path)
      return {
        available: false,
        reason: `no default keychain${toolSaid(result) ? ` (${toolSaid(result)})` : ''}`,
        hint: ['make one the default in Keychain Access (select "login", then File → Make Keychain "login" Default)', OS_SECURE_HINT],
      }
    return { available: true, detail: `the login keychain ${path}` }
  },

  async unlock(ctx) {
    const availability = await this.isAvailable(ctx)
    if (!availability.available) throw new KeyrackVaultUnavailableError(`vault os.keychain cannot be used here: ${availability.reason}`, availability.hint)
    // the OS's own dialog (SecurityAgent); an already open keychain returns at once
    const result = await run(ctx, ['unlock-keychain', '-u'], { timeoutMs: PROMPT_TIMEOUT_MS })
    if (result.code === 0) return
    if (result.code !== SECURITY_STATUS.interactionNotAllowed) throw failure('unlock the login keychain', result)
    // no desktop to show it on (an SSH session): ask the human here, if there is one. The
    // password goes to `security` on stdin, once, and is dropped: keyrack never keeps it
    if (!ctx.prompt) throw keychainLocked('your login keychain', LOCKED_HOW)
    for (let attempt = 1; attempt <= PASSWORD_TRIES; attempt++) {
      const password = await ctx.prompt.secret(attempt === 1 ? 'password of your macOS login keychain (used once to unlock it, never kept)' : 'wrong password; the login keychain password again')
      const line = `unlock-keychain -p ${quoteArg(password)}`
      if (/[\0\r\n]/.test(password) || Buffer.byteLength(line) > SECURITY_MAX_LINE_BYTES) throw new KeyrackSecretInvalidError('that keychain password cannot be passed to `security`', LOCKED_HOW)
      const tried = await run(ctx, ['-i'], { stdin: `${line}\n` })
      if (tried.code === 0) return
      if (tried.code !== SECURITY_STATUS.authFailed) throw failure('unlock the login keychain', tried, password)
    }
    throw keychainLocked(`your login keychain (${PASSWORD_TRIES} wrong passwords)`, LOCKED_HOW)
  },

  async store(ctx, item, secret) {
    const { line, form } = addCommand(item, secret)
    const bytes = Buffer.byteLength(line)
    if (bytes > SECURITY_MAX_LINE_BYTES) {
      const room = SECURITY_MAX_LINE_BYTES - (bytes - Buffer.byteLength(form === 'hex' ? Buffer.from(secret).toString('hex') : quoteArg(secret)))
      const limit = form === 'hex' ? `${Math.floor(room / 2)} bytes for a secret with line breaks` : `about ${room - 2} bytes`
      throw secretTooLong('security', limit, Buffer.byteLength(secret))
    }
    const result = await run(ctx, ['-i'], { stdin: `${line}\n`, timeoutMs: PROMPT_TIMEOUT_MS })
    if (result.code !== 0) throw failure('store the secret', result, secret)
  },

  async read(ctx, item) {
    const result = await run(ctx, ['find-generic-password', '-s', item.service, '-a', item.account, '-g'])
    if (result.code === 0) return parseFoundPassword(result.stderr)
    if (result.code === SECURITY_STATUS.itemNotFound) return null
    throw failure('read the secret', result)
  },

  async remove(ctx, item) {
    const result = await run(ctx, ['delete-generic-password', '-s', item.service, '-a', item.account])
    if (result.code === 0 || result.code === SECURITY_STATUS.itemNotFound) return
    throw failure('remove the item', result)
  },
}
