/** the one "locked" error of a protected identity, shared by the age and ssh identity loaders */
import type { Context } from '../context.ts'
import { KeyrackKeyLockedError } from '../domain/errors.ts'

export function identityLockedError(ctx: Context): KeyrackKeyLockedError {
  return new KeyrackKeyLockedError(`the identity of owner '${ctx.owner}' is passphrase-protected and no passphrase can be asked for here`, [
    'run the command on a terminal, or pass the passphrase with `--passphrase-fd 3 3<file` / `--passphrase-stdin`',
  ])
}
