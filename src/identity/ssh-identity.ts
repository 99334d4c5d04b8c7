/**
 * Loads an owner's SSH ed25519 identity from the private key file recorded at init. The key's
 * passphrase is asked for lazily: only when a file's stanza matches this key's tag.
 */
import { readFileSync } from 'node:fs'
import type { Context } from '../context.ts'
import { KeyrackIdentityError } from '../domain/errors.ts'
import { identityLockedError } from './locked.ts'
import { SshEd25519Identity, sshAgentOnlyError } from './ssh-ed25519.ts'

export function loadSshIdentity(ctx: Context, file: string): SshEd25519Identity {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && ctx.env.SSH_AUTH_SOCK) throw sshAgentOnlyError()
    throw new KeyrackIdentityError(`cannot read the ssh private key ${file} of owner '${ctx.owner}'`, [
      `check that it exists and is readable: \`ls -l ${file}\``,
    ])
  }
  return new SshEd25519Identity(text, file, async () => {
    if (!ctx.passphrase) throw identityLockedError(ctx)
    const passphrase = await ctx.passphrase({ purpose: `passphrase for the ssh key ${file}`, attempt: 1 })
    if (passphrase === null) throw identityLockedError(ctx)
    return passphrase
  })
}
