/**
 * init: creates the owner's encryption identity and an empty host manifest (SPEC §4, §6).
 * Never overwrites: an owner that exists is reported, not re-created.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { paths, type Context, type PassphraseSource } from '../context.ts'
import { KeyrackIdentityError, KeyrackUsageError } from '../domain/errors.ts'
import { encryptWithPassphrase } from '../identity/age-file.ts'
import type { OwnerConfig } from '../identity/owner-identity.ts'
import { emptyHostManifest, writeHostManifest } from '../manifests/host.ts'
import { ensurePrivateDir, writeFileAtomic } from '../runtime/fs-atomic.ts'
import { withLock } from '../runtime/lock.ts'

export interface InitInput {
  /** 'age' (default): a generated X25519 identity; 'ssh': your ed25519 ssh key */
  via?: 'age' | 'ssh'
  /**
   * for via age: protect the identity with a passphrase (default true). In the SDK a passphrase
   * source function here both protects the identity and supplies the new passphrase.
   */
  passphrase?: boolean | PassphraseSource
  /** for via ssh: the public key file (default ~/.ssh/id_ed25519.pub) */
  pubkey?: string
  /** for via ssh: the private key file (default: the pubkey path without .pub) */
  identity?: string
  /** backup recipients (age1… or ssh-ed25519 …) that can also decrypt everything */
  recipients?: string[]
}

export interface InitResult {
  owner: string
  via: 'age' | 'ssh'
  /** the owner's own public key */
  recipient: string
  recipients: string[]
  hostManifest: string
  identityFile: string
  passphrase: boolean
}

export async function init(ctx: Context, input: InitInput = {}): Promise<InitResult> {
  const via = input.via ?? 'age'
  ensurePrivateDir(ctx.home)
  return withLock(paths.lock(ctx), async () => {
    if (existsSync(paths.ownerConfig(ctx)) || existsSync(paths.hostManifest(ctx)))
      throw new KeyrackUsageError(`owner '${ctx.owner}' already has a keyrack in ${ctx.home}`, [
        `see its keys: \`keyrack list${ctx.owner === 'human' ? '' : ` --owner ${ctx.owner}`}\``,
        `to start over, move ${paths.ownerConfig(ctx)} and ${paths.hostManifest(ctx)} aside first`,
      ])
    // a generated identity is never replaced: it may be the only key to existing secrets
    const leftover = ['age', 'key'].map((ext) => `${ctx.home}/identity.${ctx.owner}.${ext}`).find((f) => existsSync(f))
    if (via === 'age' && leftover)
      throw new KeyrackUsageError(`an identity of owner '${ctx.owner}' already exists (${leftover}); keyrack will not overwrite it`, [
        `move it aside first if you really mean to start over: \`mv ${leftover} ${leftover}.bak\``,
      ])
    const backups = await validateRecipients(input.recipients ?? [])
    let config: OwnerConfig
    if (via === 'age') config = await createAgeIdentity(ctx, input.passphrase !== false)
    else config = await linkSshIdentity(ctx, input)
    const recipients = [config.recipient, ...backups.filter((r) => r !== config.recipient)]
    await writeHostManifest(ctx, emptyHostManifest(ctx.owner, recipients))
    // the owner config goes last: its presence is what marks the owner as initialized
    writeFileAtomic(paths.ownerConfig(ctx), `${JSON.stringify(config, null, 2)}\n`)
    return {
      owner: ctx.owner, via, recipient: config.recipient, recipients,
      hostManifest: paths.hostManifest(ctx), identityFile: config.identityFile, passphrase: config.passphrase,
    }
  })
}

async function createAgeIdentity(ctx: Context, protect: boolean): Promise<OwnerConfig> {
  const { generateX25519Identity, identityToRecipient } = await import('age-encryption')
  // X25519, not the post-quantum hybrid: the age CLI most users have cannot read hybrid files yet
  const identity = await generateX25519Identity()
  const recipient = await identityToRecipient(identity)
  const text = `# keyrack identity of owner ${ctx.owner}\n# created: ${new Date(ctx.now()).toISOString()}\n# public key: ${recipient}\n${identity}\n`
  if (!protect) {
    const file = `identity.${ctx.owner}.key`
    writeFileAtomic(`${ctx.home}/${file}`, text)
    return { version: 1, via: 'age', recipient, identityFile: file, passphrase: false }
  }
  if (!ctx.passphrase)
    throw new KeyrackUsageError('a passphrase is needed to protect the new identity, and none can be asked for here', [
      'run `keyrack init` on a terminal, pass it with `--passphrase-stdin`, or choose `--no-passphrase` for an unattended machine',
    ])
  const passphrase = await ctx.passphrase({ purpose: `new passphrase for the keyrack identity of owner '${ctx.owner}'`, attempt: 1 })
  if (!passphrase) throw new KeyrackUsageError('an empty passphrase is not a passphrase', ['choose `--no-passphrase` explicitly if you mean it'])
  const file = `identity.${ctx.owner}.age`
  writeFileAtomic(`${ctx.home}/${file}`, await encryptWithPassphrase(passphrase, text))
  return { version: 1, via: 'age', recipient, identityFile: file, passphrase: true }
}

async function linkSshIdentity(ctx: Context, input: InitInput): Promise<OwnerConfig> {
  const home = ctx.env.HOME ?? ''
  const pubkey = resolve(ctx.cwd, input.pubkey ?? `${home}/.ssh/id_ed25519.pub`)
  const privateKey = resolve(ctx.cwd, input.identity ?? pubkey.replace(/\.pub$/, ''))
  const { parseSshPublicKey } = await import('../identity/ssh-ed25519.ts')
  const { parseOpensshPrivateKey } = await import('../identity/openssh-key.ts')
  let publicLine: string
  try {
    publicLine = readFileSync(pubkey, 'utf8').trim()
  } catch {
    throw new KeyrackUsageError(`cannot read the ssh public key ${pubkey}`, [
      'pass the right one: `keyrack init --via ssh --pubkey ~/.ssh/id_ed25519.pub`',
      'or create a key: `ssh-keygen -t ed25519`',
    ])
  }
  const parsed = parseSshPublicKey(publicLine)
  let privateText: string
  try {
    privateText = readFileSync(privateKey, 'utf8')
  } catch {
    throw new KeyrackUsageError(`cannot read the ssh private key ${privateKey}`, [
      'point at it: `keyrack init --via ssh --pubkey KEY.pub --identity KEY` (ssh-agent cannot decrypt, keyrack needs the key file)',
    ])
  }
  const key = parseOpensshPrivateKey(privateText, privateKey)
  if (Buffer.compare(Buffer.from(key.publicKeyBlob), Buffer.from(parsed.blob)) !== 0)
    throw new KeyrackIdentityError(`${privateKey} is not the private key of ${pubkey}`, ['pass the matching pair with `--pubkey` and `--identity`'])
  const recipient = `ssh-ed25519 ${Buffer.from(parsed.blob).toString('base64')}`
  return { version: 1, via: 'ssh', recipient, identityFile: privateKey, passphrase: key.isEncrypted }
}

export async function validateRecipients(recipients: string[]): Promise<string[]> {
  const result: string[] = []
  for (const raw of recipients) {
    const r = raw.trim()
    if (/^age1[0-9a-z]{58}$/.test(r)) result.push(r)
    else if (r.startsWith('ssh-')) {
      const { parseSshPublicKey } = await import('../identity/ssh-ed25519.ts')
      const parsed = parseSshPublicKey(r)
      result.push(`ssh-ed25519 ${Buffer.from(parsed.blob).toString('base64')}`)
    } else
      throw new KeyrackUsageError('a recipient must be an age public key (age1…) or an ssh-ed25519 public key line', [
        'e.g. `--recipient age1…` (from `age-keygen -y key.txt`) or `--recipient "$(cat ~/.ssh/backup.pub)"`',
      ])
  }
  return result
}
