/**
 * The identity seam: how an owner's files are encrypted (recipients) and decrypted (identity).
 *
 * owner.<owner>.json (plaintext, 0600, no secrets) records which kind of identity the owner uses:
 *  - via "age": keyrack generated an X25519 identity, stored in identity.<owner>.age encrypted
 *    with a passphrase (age scrypt), or — by explicit `--no-passphrase` choice for unattended
 *    machines — in plaintext in identity.<owner>.key;
 *  - via "ssh": the user's ed25519 SSH key (private key file path recorded, never copied).
 * The recipients that files are encrypted to live in the host manifest (owner's key + backups).
 */
import { existsSync, readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import * as v from 'valibot'
import { paths, type Context } from '../context.ts'
import { KeyrackError, KeyrackIdentityError, KeyrackOwnerUninitializedError } from '../domain/errors.ts'
import { HOME_FILE_BYTES } from '../domain/limits.ts'
import { readHomeFile } from '../runtime/home.ts'
import { decryptWithPassphrase, type AgeIdentity } from './age-file.ts'
import { identityLockedError } from './locked.ts'

export const OwnerConfigSchema = v.strictObject({
  version: v.literal(1),
  via: v.picklist(['age', 'ssh']),
  /** the public key of the owner's own identity */
  recipient: v.string(),
  /** identity file: relative to the keyrack home for generated age identities, absolute for ssh */
  identityFile: v.string(),
  /** whether loading the identity needs a passphrase */
  passphrase: v.boolean(),
})
export type OwnerConfig = v.InferOutput<typeof OwnerConfigSchema>

const initHint = (ctx: Context): string =>
  ctx.owner === 'human' ? '`keyrack init`' : `\`keyrack init --owner ${ctx.owner}\``

export function readOwnerConfig(ctx: Context): OwnerConfig {
  const file = paths.ownerConfig(ctx)
  let text: string
  try {
    const bytes = readHomeFile(ctx.home, file, HOME_FILE_BYTES.small)
    if (bytes === null)
      throw new KeyrackOwnerUninitializedError(`owner '${ctx.owner}' has no keyrack yet (no ${file})`, [
        `create it: ${initHint(ctx)}`,
      ])
    text = bytes.toString('utf8')
  } catch (error) {
    if (error instanceof KeyrackError) throw error
    throw new KeyrackIdentityError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, [
      `check its permissions: \`ls -l ${file}\``,
    ])
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new KeyrackIdentityError(`${file} is not valid JSON`, [`restore it from a backup, or move it aside and run ${initHint(ctx)}`])
  }
  const result = v.safeParse(OwnerConfigSchema, parsed)
  if (!result.success)
    throw new KeyrackIdentityError(`${file} does not match the owner config schema`, [
      `restore it from a backup, or move it aside and run ${initHint(ctx)}`,
    ])
  return result.output
}

export function isInitialized(ctx: Context): boolean {
  return existsSync(paths.ownerConfig(ctx))
}

export function identityPath(ctx: Context, config: OwnerConfig): string {
  return isAbsolute(config.identityFile) ? config.identityFile : join(ctx.home, config.identityFile)
}

/**
 * Loads the owner's identity. Asks ctx.passphrase only when the identity is protected;
 * without a passphrase source, a protected identity is `locked`.
 */
export async function loadOwnerIdentity(ctx: Context, config: OwnerConfig = readOwnerConfig(ctx)): Promise<AgeIdentity> {
  const file = identityPath(ctx, config)
  if (config.via === 'ssh') {
    const { loadSshIdentity } = await import('./ssh-identity.ts')
    return loadSshIdentity(ctx, file)
  }
  let bytes: Buffer | null
  try {
    // a generated identity lives in the keyrack home: checked like every file there
    bytes = isAbsolute(config.identityFile) ? readFileSync(file) : readHomeFile(ctx.home, file, HOME_FILE_BYTES.small)
  } catch (error) {
    if (error instanceof KeyrackError) throw error
    bytes = null
  }
  if (bytes === null)
    throw new KeyrackIdentityError(`the identity file ${file} of owner '${ctx.owner}' cannot be read`, [
      `restore it from a backup; without it the owner's keys cannot be decrypted (a backup recipient can: see \`keyrack recipients\`)`,
    ])
  if (!config.passphrase) return parseAgeIdentity(bytes.toString('utf8'), file)
  if (!ctx.passphrase) throw identityLockedError(ctx)
  // the source decides how many tries a human gets (a terminal: three; a pipe: one)
  for (let attempt = 1; ; attempt++) {
    const passphrase = await ctx.passphrase({ purpose: `passphrase for the keyrack identity of owner '${ctx.owner}'`, attempt })
    if (passphrase === null) break
    const text = await decryptWithPassphrase(passphrase, bytes)
    if (text !== null) return parseAgeIdentity(text, file)
  }
  throw new KeyrackIdentityError(`wrong passphrase for the identity of owner '${ctx.owner}' (${file})`, [
    'try again; if the passphrase is lost, decrypt with a backup recipient or start over with `keyrack init`',
  ])
}

function parseAgeIdentity(text: string, file: string): string {
  const line = text.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))
  if (!line) throw new KeyrackIdentityError(`${file} holds no age identity`, ['restore it from a backup'])
  return line.trim()
}
