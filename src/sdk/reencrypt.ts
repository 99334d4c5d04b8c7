/**
 * Re-encrypts every encrypted file of an owner — the host manifest and each file a reencryptable
 * vault keeps (os.secure's) — to
 * a new recipient list, all or nothing (SPEC §4, issue 3):
 *
 *  1. decrypt everything with the owner's identity (a file that does not open stops here, and
 *     nothing has been written yet);
 *  2. encrypt every new ciphertext into a temp file beside its target (a failure removes the
 *     temps, and the old files are untouched);
 *  3. only then rename the temps over the old files, the host manifest last: it is the record of
 *     who the recipients are, so it changes only once every secret already follows it.
 *
 * The owner's own key is in both the old and the new recipient list, so even a crash between two
 * renames leaves every file decryptable by the owner, and running the command again finishes it.
 * The caller holds the owner lock.
 */
import { renameSync } from 'node:fs'
import { dirname } from 'node:path'
import { HOME_FILE_BYTES } from '../domain/limits.ts'
import { readHomeFile } from '../runtime/home.ts'
import { paths, type Context } from '../context.ts'
import { KeyrackError, KeyrackVaultError } from '../domain/errors.ts'
import { decryptWith, encryptTo, type AgeIdentity } from '../identity/age-file.ts'
import { encryptHostManifest, type HostManifest } from '../manifests/host.ts'
import { fsyncDir, removeFileIfExists, writeTempBeside } from '../runtime/fs-atomic.ts'
import { isReencryptable } from '../vaults/vault.ts'

/** the file operations of steps 2 and 3, a seam so tests can make one of them fail */
export interface ReencryptIo {
  writeTemp(target: string, data: Uint8Array): string
  rename(from: string, to: string): void
  remove(path: string): void
}

const fsIo: ReencryptIo = {
  writeTemp: (target, data) => writeTempBeside(target, data),
  rename: renameSync,
  remove: (path) => void removeFileIfExists(path),
}

/** every file an owner's vaults keep encrypted to the owner's recipients (os.secure's files, …) */
export async function ownerEncryptedFiles(ctx: Context): Promise<string[]> {
  return (await ctx.vaults.loadAll()).filter(isReencryptable).flatMap((vault) => vault.encryptedFiles(ctx))
}

/**
 * @param manifest the host manifest as decrypted now; it is rewritten with `recipients`
 * @returns the files that were re-encrypted (host manifest first)
 */
export async function reencryptOwnerFiles(
  ctx: Context,
  identity: AgeIdentity,
  manifest: HostManifest,
  recipients: string[],
  io: ReencryptIo = fsIo,
): Promise<string[]> {
  // 1. decrypt everything first
  const secrets: { file: string; plaintext: string }[] = []
  for (const file of await ownerEncryptedFiles(ctx)) {
    let bytes: Buffer | null
    try {
      bytes = readHomeFile(ctx.home, file, HOME_FILE_BYTES.secureFile)
      if (bytes === null) continue // removed meanwhile: nothing to re-encrypt
    } catch (error) {
      if (error instanceof KeyrackError) throw error
      throw new KeyrackVaultError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}; nothing was changed`, [
        `check its permissions: \`ls -l ${file}\``,
      ])
    }
    try {
      secrets.push({ file, plaintext: await decryptWith(identity, bytes, file) })
    } catch (error) {
      if (error instanceof KeyrackError) error.message += '; nothing was changed'
      throw error
    }
  }
  const next: HostManifest = { ...manifest, owner: { ...manifest.owner, recipients } }

  // 2. every new ciphertext into a temp file
  const pending: { temp: string; target: string }[] = []
  try {
    for (const { file, plaintext } of secrets) pending.push({ temp: io.writeTemp(file, await encryptTo(recipients, plaintext)), target: file })
    const manifestFile = paths.hostManifest(ctx)
    pending.push({ temp: io.writeTemp(manifestFile, await encryptHostManifest(next)), target: manifestFile })
  } catch (error) {
    for (const { temp } of pending) io.remove(temp)
    if (error instanceof KeyrackError) throw error
    throw new KeyrackVaultError(`could not write the re-encrypted files (${describe(error)}); nothing was changed`, [
      `check free space and permissions in ${ctx.home}, then run the command again`,
    ])
  }

  // 3. rename them in place, the host manifest last
  let done = 0
  try {
    for (const { temp, target } of pending) {
      io.rename(temp, target)
      done++
    }
  } catch (error) {
    for (const { temp } of pending.slice(done)) io.remove(temp)
    throw new KeyrackVaultError(
      `re-encryption stopped after ${done} of ${pending.length} files (${describe(error)}); every file still opens with the owner's key`,
      ['run the same command again to finish'],
    )
  }
  for (const dir of new Set(pending.map((p) => dirname(p.target)))) fsyncDir(dir)
  return [paths.hostManifest(ctx), ...secrets.map((s) => s.file)]
}

const describe = (error: unknown): string =>
  (error as NodeJS.ErrnoException)?.code ?? (error instanceof Error ? error.name : 'error')
