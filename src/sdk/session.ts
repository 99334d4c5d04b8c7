/**
 * An owner session: the owner's config, identity and host manifest, each opened at most once
 * per operation and only when something needs it. It is the VaultSession vaults receive.
 */
import type { Context } from '../context.ts'
import { createFileDecrypter, type AgeIdentity, type FileDecrypter } from '../identity/age-file.ts'
import { isInitialized, loadOwnerIdentity, readOwnerConfig, type OwnerConfig } from '../identity/owner-identity.ts'
import { readHostManifest, type HostManifest } from '../manifests/host.ts'
import type { VaultSession } from '../vaults/vault.ts'

export class OwnerSession implements VaultSession {
  private configMemo?: OwnerConfig
  private identityMemo?: Promise<AgeIdentity>
  private manifestMemo?: Promise<HostManifest>
  private decrypterMemo?: Promise<FileDecrypter>

  constructor(readonly ctx: Context) {}

  config(): OwnerConfig {
    this.configMemo ??= readOwnerConfig(this.ctx)
    return this.configMemo
  }

  /** true when the identity opens without asking anyone (no passphrase, or a source was given) */
  canOpenIdentity(): boolean {
    return this.ctx.passphrase !== undefined || !this.config().passphrase
  }

  identity(): Promise<AgeIdentity> {
    this.identityMemo ??= loadOwnerIdentity(this.ctx, this.config())
    return this.identityMemo
  }

  async decrypt(ciphertext: Uint8Array, file: string): Promise<string> {
    this.decrypterMemo ??= this.identity().then(createFileDecrypter)
    return (await this.decrypterMemo)(ciphertext, file)
  }

  manifest(): Promise<HostManifest> {
    // the identity first: an owner that was never initialized is told to run `keyrack init`
    this.manifestMemo ??= this.identity().then(() => readHostManifest(this.ctx, (ciphertext, file) => this.decrypt(ciphertext, file)))
    return this.manifestMemo
  }

  /** forget the memoized manifest (after this operation wrote a new one) */
  setManifest(manifest: HostManifest): void {
    this.manifestMemo = Promise.resolve(manifest)
  }

  async recipients(): Promise<readonly string[]> {
    return (await this.manifest()).owner.recipients
  }

  async scope(vaultId: string): Promise<readonly string[] | null> {
    // an owner not created yet (an import about to create it) has set no scope
    if (!isInitialized(this.ctx)) return null
    const scopes = (await this.manifest()).policy?.scope
    return scopes && Object.hasOwn(scopes, vaultId) ? scopes[vaultId]! : null
  }
}
