/**
 * The host manifest: the owner's private index of where each key lives (SPEC §6), a YAML
 * document age-encrypted to the owner's recipients. It holds metadata only (vault, mech, exid,
 * timestamps), never a secret. A file that fails to decrypt or parse is never overwritten.
 */
import { HOME_FILE_BYTES } from '../domain/limits.ts'
import * as v from 'valibot'
import { paths, type Context } from '../context.ts'
import { KeyrackIdentityError, KeyrackManifestInvalidError } from '../domain/errors.ts'
import { AGENT_VALUES_RULES, REDACT_RULES } from '../domain/policy.ts'
import { decryptWith, encryptTo, type AgeIdentity, type FileDecrypter } from '../identity/age-file.ts'
import { writeFileAtomic } from '../runtime/fs-atomic.ts'
import { writeInventory } from './inventory.ts'
import { readHomeFile } from '../runtime/home.ts'

const HostEntrySchema = v.strictObject({
  vault: v.string(),
  mech: v.string(),
  exid: v.nullable(v.string()),
  createdAt: v.string(),
  updatedAt: v.string(),
})
const HostManifestSchema = v.strictObject({
  owner: v.strictObject({
    name: v.string(),
    recipients: v.array(v.string()),
  }),
  keys: v.record(v.string(), HostEntrySchema),
  /** the owner's rules for AI agents (domain/policy.ts); absent = the defaults */
  policy: v.optional(
    v.strictObject({
      redact: v.optional(v.picklist(REDACT_RULES)),
      'agent-values': v.optional(v.picklist(AGENT_VALUES_RULES)),
      /** per vault id, the parts of it keyrack may read (e.g. 1Password vault names) */
      scope: v.optional(v.record(v.string(), v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1)))),
    }),
  ),
})
export type HostEntry = v.InferOutput<typeof HostEntrySchema>
export type HostManifest = v.InferOutput<typeof HostManifestSchema>

export function emptyHostManifest(owner: string, recipients: string[]): HostManifest {
  return { owner: { name: owner, recipients }, keys: {} }
}

export async function readHostManifest(ctx: Context, decrypt: AgeIdentity | FileDecrypter): Promise<HostManifest> {
  const file = paths.hostManifest(ctx)
  const bytes = readHomeFile(ctx.home, file, HOME_FILE_BYTES.hostManifest)
  if (bytes === null) throw hostManifestMissing(ctx)
  const text = typeof decrypt === 'function' ? await decrypt(bytes, file) : await decryptWith(decrypt, bytes, file)
  return parseHostManifest(text, file)
}

/**
 * An initialized owner whose host manifest is gone: keyrack must not answer from anything else
 * (the inventory would say every key is absent), and `keyrack init` alone would refuse.
 */
export function hostManifestMissing(ctx: Context): KeyrackIdentityError {
  const file = paths.hostManifest(ctx)
  return new KeyrackIdentityError(`owner '${ctx.owner}' has no host manifest (${file})`, [
    `restore ${file} from a backup`,
    `or start over: move ${paths.ownerConfig(ctx)} and the owner's identity file aside, then run \`keyrack init${ctx.owner === 'human' ? '' : ` --owner ${ctx.owner}`}\``,
  ])
}

export async function parseHostManifest(text: string, file: string): Promise<HostManifest> {
  // Bun's native parser is ~15x faster on a 1,000-key manifest; the yaml package elsewhere
  const parse = (globalThis as { Bun?: { YAML?: { parse(text: string): unknown } } }).Bun?.YAML?.parse ?? (await import('yaml')).parse
  let data: unknown
  try {
    data = parse(text)
  } catch {
    throw new KeyrackManifestInvalidError(`the host manifest ${file} decrypted but is not valid YAML`, [
      `restore ${file} from a backup; keyrack will not overwrite it`,
    ], file)
  }
  const result = v.safeParse(HostManifestSchema, data)
  if (!result.success) {
    const where = result.issues[0]?.path?.map((p) => String(p.key)).join('.') ?? 'the document'
    throw new KeyrackManifestInvalidError(`the host manifest ${file} is invalid at ${where}`, [
      `restore ${file} from a backup; keyrack will not overwrite it`,
    ], file)
  }
  return result.output
}

/** writes the host manifest, then the inventory derived from it; the caller holds the owner lock */
export async function writeHostManifest(ctx: Context, manifest: HostManifest): Promise<void> {
  writeFileAtomic(paths.hostManifest(ctx), await encryptHostManifest(manifest))
  writeInventory(ctx, manifest.keys, manifest.policy)
}

/** the manifest as written: keys sorted (stable diffs when decrypted), encrypted to its own recipients */
export async function encryptHostManifest(manifest: HostManifest): Promise<Uint8Array> {
  const { stringify } = await import('yaml')
  const sorted: HostManifest = {
    owner: manifest.owner,
    keys: Object.fromEntries(Object.entries(manifest.keys).sort(([a], [b]) => a.localeCompare(b))),
    ...(manifest.policy && Object.keys(manifest.policy).length > 0 ? { policy: manifest.policy } : {}),
  }
  return encryptTo(manifest.owner.recipients, stringify(sorted))
}
