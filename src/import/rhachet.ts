/**
 * Reads rhachet's keyrack (SPEC §17) without changing a byte of it: its host manifest, os.secure and
 * os.direct files (layout in rhachet-paths.ts), decrypted with the identity rhachet itself would use.
 *
 * rhachet's identities (from its source: sshPrikeyToAgeIdentity, discoverIdentities, initKeyrack):
 * - a passphrase-less ed25519 ssh key is turned into a plain age X25519 identity: the scalar is the
 *   first 32 bytes of SHA-512(the key's 32-byte seed), bech32-encoded as AGE-SECRET-KEY-1…; its
 *   recipient (`mech: age` in the manifest) is the key's public point mapped to Montgomery form. So
 *   files carry `X25519` stanzas, not `ssh-ed25519` ones, and age's ssh support alone cannot open them.
 * - a passphrase-protected ssh key is used as a real `ssh-ed25519` recipient (rhachet shells out to
 *   the age CLI); keyrack opens those with its own ssh-ed25519 identity, asking for the passphrase.
 * - rhachet looks for the key at ~/.ssh/<owner> (a named owner), then ~/.ssh/id_ed25519, and tries
 *   each until one decrypts the host manifest. `--identity FILE` adds a key (or an age identity file)
 *   to try first, like rhachet's `--prikey`. (rhachet also asks ssh-agent for key paths; pass such a
 *   key with `--identity`.)
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import * as v from 'valibot'
import type { Context } from '../context.ts'
import { KeyrackIdentityError, KeyrackManifestInvalidError, KeyrackUsageError, KeyrackVaultError } from '../domain/errors.ts'
import { readFileGuarded, UnsafeFileError } from '../runtime/read-file.ts'
import { rhachetPaths } from './rhachet-paths.ts'

/** rhachet's host manifest schema (daoKeyrackHostManifest/schema.ts), tolerant of fields it adds later */
const RhachetHostSchema = v.object({
  slug: v.string(),
  exid: v.nullable(v.string()),
  vault: v.string(),
  mech: v.string(),
  env: v.optional(v.string()),
  org: v.optional(v.string()),
  createdAt: v.string(),
  updatedAt: v.string(),
})
const RhachetManifestSchema = v.object({
  uri: v.optional(v.string()),
  owner: v.optional(v.nullable(v.string())),
  recipients: v.optional(v.array(v.object({ mech: v.string(), pubkey: v.string() })), []),
  hosts: v.record(v.string(), RhachetHostSchema),
})
export type RhachetHost = v.InferOutput<typeof RhachetHostSchema>
export type RhachetManifest = v.InferOutput<typeof RhachetManifestSchema>

/** one way into rhachet's files: the key file it came from and the age identities made from it */
export interface RhachetIdentity {
  /** the ssh private key (or age identity file) that opened the host manifest */
  file: string
  /** an ssh key can become a keyrack `--via ssh` owner; an age identity file cannot be linked */
  kind: 'ssh' | 'age'
  decrypt(ciphertext: Uint8Array, file: string): Promise<string>
}

export interface RhachetKeyrack {
  paths: ReturnType<typeof rhachetPaths>
  manifest: RhachetManifest
  identity: RhachetIdentity
  /** the stored secret of a host entry, or null when rhachet holds nothing for it */
  readSecret(host: RhachetHost): Promise<{ secret: string; expiresAt?: string } | null>
}

const MAX_BYTES = 1024 * 1024

/** reads a file rhachet wrote; null when absent. Errors name the file, never its content */
function readRhachetFile(file: string): Buffer | null {
  try {
    return readFileGuarded(file, { maxBytes: MAX_BYTES })
  } catch (error) {
    if (error instanceof UnsafeFileError) throw new KeyrackVaultError(`cannot import ${error.message}`, [`check the file: \`ls -l ${file}\``])
    throw new KeyrackVaultError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, [`check its permissions: \`ls -l ${file}\``])
  }
}

/**
 * The X25519 identity rhachet derives from a passphrase-less ed25519 key's seed:
 * AGE-SECRET-KEY-1 bech32 of SHA-512(seed)[0..32].
 */
export async function rhachetX25519Identity(seed: Uint8Array): Promise<string> {
  const { sha512 } = await import('@noble/hashes/sha2.js')
  const { bech32 } = await import('@scure/base')
  const digest = sha512(seed)
  const scalar = digest.slice(0, 32)
  try {
    return bech32.encode('AGE-SECRET-KEY-', bech32.toWords(scalar), false).toUpperCase()
  } finally {
    digest.fill(0)
    scalar.fill(0)
  }
}

/** the identities one candidate file gives, or null when it is not a key file keyrack can use */
async function identitiesOf(ctx: Context, file: string, text: string): Promise<{ kind: 'ssh' | 'age'; identities: (string | import('age-encryption').Identity)[] } | null> {
  if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) {
    const { OpensshPrivateKey } = await import('../identity/openssh-key.ts')
    const { SshEd25519Identity } = await import('../identity/ssh-ed25519.ts')
    let key
    try {
      key = OpensshPrivateKey.parse(text, file)
    } catch {
      return null // another key type (rsa, ecdsa): rhachet cannot use those either
    }
    // a protected key: the ssh-ed25519 stanzas rhachet wrote through the age CLI
    const ssh = new SshEd25519Identity(text, file, async () => {
      const passphrase = ctx.passphrase ? await ctx.passphrase({ purpose: `passphrase for the ssh key ${file}`, attempt: 1 }) : null
      if (passphrase === null)
        throw new KeyrackIdentityError(`the ssh key ${file} is passphrase-protected and no passphrase can be asked for here`, [
          'run the import on a terminal, or pass the passphrase with `--passphrase-fd 3 3<file` / `--passphrase-stdin`',
        ])
      return passphrase
    })
    if (key.isEncrypted) return { kind: 'ssh', identities: [ssh] }
    const pair = key.unlockEd25519(undefined)
    try {
      return { kind: 'ssh', identities: [await rhachetX25519Identity(pair.seed), ssh] }
    } finally {
      pair.seed.fill(0)
    }
  }
  const ageLines = text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('AGE-SECRET-KEY-'))
  return ageLines.length > 0 ? { kind: 'age', identities: ageLines } : null
}

/** the candidate key files, in rhachet's order, after an explicit --identity */
function candidates(ctx: Context, owner: string | null, explicit?: string): string[] {
  const home = ctx.env.HOME ?? ''
  const list = [explicit, owner ? join(home, '.ssh', owner) : undefined, join(home, '.ssh', 'id_ed25519')]
  return [...new Set(list.filter((f): f is string => Boolean(f)))]
}

/**
 * Opens rhachet's keyrack of ctx.owner (human ↔ rhachet's default owner).
 * @throws KeyrackUsageError when rhachet has no keyrack for the owner; KeyrackIdentityError when no
 *   candidate identity opens it; KeyrackManifestInvalidError when it decrypts to something unexpected
 */
export async function openRhachetKeyrack(ctx: Context, options: { identity?: string } = {}): Promise<RhachetKeyrack> {
  const paths = rhachetPaths(ctx)
  const armored = readRhachetFile(paths.hostManifest)
  if (armored === null) {
    const { readdirSync } = await import('node:fs')
    let owners: string[] = []
    try {
      owners = readdirSync(paths.root)
        .map((f) => (f === 'keyrack.host.age' ? 'human' : /^keyrack\.host\.([a-z][a-z0-9_-]*)\.age$/.exec(f)?.[1]))
        .filter((o): o is string => Boolean(o))
        .sort()
    } catch {}
    throw new KeyrackUsageError(`rhachet has no keyrack for owner '${ctx.owner}' (no ${paths.hostManifest})`, [
      owners.length > 0
        ? `rhachet has keyracks for: ${owners.map((o) => (o === 'human' ? 'human (its default owner)' : o)).join(', ')}; import one with \`keyrack import --from rhachet --owner <name>\``
        : `rhachet keeps its keyrack in ${paths.root}; run the import as the user whose HOME holds it`,
    ])
  }
  const { armor, Decrypter } = await import('age-encryption')
  const decode = (bytes: Buffer, file: string): Uint8Array => {
    const text = bytes.toString('utf8')
    if (!text.startsWith('-----BEGIN AGE ENCRYPTED FILE-----')) return new Uint8Array(bytes)
    try {
      return armor.decode(text)
    } catch {
      throw new KeyrackVaultError(`${file} is not a valid armored age file`, [`restore it from a backup; keyrack only reads rhachet's files, never changes them`])
    }
  }
  const manifestBytes = decode(armored, paths.hostManifest)

  const tried: string[] = []
  for (const file of candidates(ctx, paths.owner, options.identity)) {
    const bytes = readRhachetFile(file)
    if (bytes === null) {
      if (file === options.identity) throw new KeyrackUsageError(`cannot read the identity ${file}`, ['pass an existing ssh private key or age identity file with `--identity`'])
      continue
    }
    const found = await identitiesOf(ctx, file, bytes.toString('utf8'))
    if (!found) continue
    tried.push(file)
    const decrypter = new Decrypter()
    for (const identity of found.identities) decrypter.addIdentity(identity)
    let text: string
    try {
      text = await decrypter.decrypt(manifestBytes, 'text')
    } catch (error) {
      if (error instanceof KeyrackIdentityError) throw error
      continue // not this key: rhachet tries the next one too
    }
    const manifest = parseManifest(text, paths.hostManifest)
    const decrypt = async (ciphertext: Uint8Array, name: string): Promise<string> => {
      try {
        return await decrypter.decrypt(ciphertext, 'text')
      } catch (error) {
        if (error instanceof KeyrackIdentityError) throw error
        throw new KeyrackIdentityError(`cannot decrypt ${name} with ${file}, which opened rhachet's host manifest`, [
          `check the file with: age -d -i ${file} ${name} (for an ssh key without a passphrase, rhachet's derived age key is needed instead)`,
        ])
      }
    }
    const identity: RhachetIdentity = { file, kind: found.kind, decrypt }
    return { paths, manifest, identity, readSecret: (host) => readSecret(paths, host, decode, decrypt) }
  }
  throw new KeyrackIdentityError(
    tried.length > 0
      ? `none of ${tried.join(', ')} opens rhachet's host manifest ${paths.hostManifest}`
      : `no ssh key found to open rhachet's host manifest ${paths.hostManifest} (looked for ${candidates(ctx, paths.owner).join(', ')})`,
    ['pass the key rhachet was set up with: `keyrack import --from rhachet --identity ~/.ssh/<key>`'],
  )
}

function parseManifest(text: string, file: string): RhachetManifest {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new KeyrackManifestInvalidError(`rhachet's host manifest ${file} decrypted but is not JSON`, ['check it with rhachet (`rhx keyrack list`); keyrack never changes it'], file)
  }
  const result = v.safeParse(RhachetManifestSchema, data)
  if (!result.success) {
    const where = result.issues[0]?.path?.map((p) => String(p.key)).join('.') ?? 'the document'
    throw new KeyrackManifestInvalidError(`rhachet's host manifest ${file} is not in a format keyrack knows (at ${where})`, [
      'check it with rhachet (`rhx keyrack list`); keyrack never changes it',
    ], file)
  }
  return result.output
}

async function readSecret(
  paths: ReturnType<typeof rhachetPaths>,
  host: RhachetHost,
  decode: (bytes: Buffer, file: string) => Uint8Array,
  decrypt: (ciphertext: Uint8Array, file: string) => Promise<string>,
): Promise<{ secret: string; expiresAt?: string } | null> {
  if (host.vault === 'os.secure') {
    const file = join(paths.secureDir, `${createHash('sha256').update(host.slug).digest('hex').slice(0, 16)}.age`)
    const bytes = readRhachetFile(file)
    return bytes === null ? null : { secret: await decrypt(decode(bytes, file), file) }
  }
  if (host.vault === 'os.direct') {
    const bytes = readRhachetFile(paths.directFile)
    if (bytes === null) return null
    let store: unknown
    try {
      store = JSON.parse(bytes.toString('utf8'))
    } catch {
      throw new KeyrackVaultError(`${paths.directFile} is not valid JSON`, ['check it with rhachet; keyrack never changes it'])
    }
    const entry = (store as Record<string, { value?: unknown; expiresAt?: unknown } | undefined>)?.[host.slug]
    if (!entry || typeof entry.value !== 'string') return null
    return typeof entry.expiresAt === 'string' ? { secret: entry.value, expiresAt: entry.expiresAt } : { secret: entry.value }
  }
  return null
}
