/**
 * Typed errors. Every KeyrackError carries a lowercase message (what is wrong) and hint lines
 * (the exact next command). Messages never hold a secret or the content of a user's file:
 * constructors take names, slugs, paths and line numbers only.
 *
 * Exit codes are data, documented in the README; the CLI maps an error to its code, the SDK
 * just throws.
 */
import { printableLines } from './printable.ts'

export const EXIT_CODES = {
  internal: 1,
  usage: 2,
  notAllowlisted: 3,
  keyUnavailable: 4, // absent, locked, expired, or remote (provisioned to CI only)
  blocked: 5,
  vault: 6,
  manifestInvalid: 7,
  identity: 8, // wrong passphrase, no identity matched, not initialized
  environment: 9, // the machine: an unsafe keyrack home or socket directory, a full disk, an unwritable file
  policy: 10, // refused by the owner's agent policy (host manifest `policy:`), e.g. --no-redact under `redact: always`
  auditTampered: 11, // `keyrack audit --verify`: the audit log is not the one keyrack wrote (edited, reordered, cut)
  commandNotExecutable: 126, // exec: the command exists but cannot run (as a shell says)
  commandNotFound: 127, // exec: no such command (as a shell says)
} as const
export type ExitCodeName = keyof typeof EXIT_CODES

export class KeyrackError extends Error {
  readonly hint: string[]
  readonly exitCode: number
  /**
   * `exit` is required: every error says which documented class it belongs to, so an expected
   * condition can never fall through to exit 1, which means a bug in keyrack
   */
  constructor(message: string, options: { hint?: string[]; exit: ExitCodeName }) {
    // a path or name from outside (a repo file, a directory name) may carry terminal control:
    // every message is safe to print as it is (only the newlines keyrack composed stay)
    super(printableLines(message))
    this.name = new.target.name
    this.hint = (options.hint ?? []).map(printableLines)
    this.exitCode = EXIT_CODES[options.exit]
    // the message already says everything; a stack would only add noise (and never a secret)
    this.stack = `${this.name}: ${this.message}`
  }
}

/** bad flags, bad names, missing input, no TTY where input was needed */
export class KeyrackUsageError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'usage' })
  }
}

/**
 * The machine is not in a state keyrack can work in safely or at all: an unsafe keyrack home or
 * socket directory, a full disk, a file keyrack must write that cannot be written. Not a bug in
 * keyrack (exit 1 is kept for those) and not the user's input: the fix is on the machine.
 */
export class KeyrackEnvironmentError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'environment' })
  }
}

/** `keyrack exec`: the command after `--` is missing (127) or cannot be executed (126), as a shell reports it */
export class KeyrackCommandError extends KeyrackError {
  constructor(message: string, hint: string[], exit: 'commandNotFound' | 'commandNotExecutable') {
    super(message, { hint, exit })
  }
}

/** the repo manifest does not list the slug for this env */
export class KeyrackNotAllowlistedError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'notAllowlisted' })
  }
}

/** a repo manifest (or host manifest) failed to parse or validate */
export class KeyrackManifestInvalidError extends KeyrackError {
  constructor(
    message: string,
    hint: string[] = [],
    readonly file?: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message, { hint, exit: 'manifestInvalid' })
  }
}

/** a vault's tool is missing, or the vault failed to store/read */
export class KeyrackVaultUnavailableError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'vault' })
  }
}
export class KeyrackVaultError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'vault' })
  }
}
/** a write ran out of space (ENOSPC, EDQUOT): nothing was replaced, the old file is intact */
export class KeyrackNoSpaceError extends KeyrackVaultError {
  constructor(readonly dir: string) {
    super(`no space left on ${dir}: nothing was changed`, [`free some space (\`df -h ${dir}\` shows how much is left), then run the command again`])
  }
}

/**
 * A path keyrack must trust is not trustworthy: the keyrack home, a file in it or the daemon's
 * socket directory is a symlink, owned by another user, or writable by others. Nothing is read
 * from it; the hint is the exact command that makes it safe.
 */
export class KeyrackUnsafePathError extends KeyrackEnvironmentError {
  constructor(
    message: string,
    hint: string[],
    readonly path: string,
  ) {
    super(message, hint)
  }
}

/** the owner's identity is missing, wrong, or could not decrypt */
export class KeyrackIdentityError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'identity' })
  }
}

/** the owner was never initialized (no owner.<owner>.json): its keys are simply absent */
export class KeyrackOwnerUninitializedError extends KeyrackIdentityError {}

/** one key could not be granted (absent, locked, expired) */
export class KeyrackKeyAbsentError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'keyUnavailable' })
  }
}
export class KeyrackKeyLockedError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'keyUnavailable' })
  }
}
export class KeyrackKeyExpiredError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'keyUnavailable' })
  }
}
/** a long-lived credential where a short-lived mech exists, or a grant below the repo's requirement */
export class KeyrackKeyBlockedError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'blocked' })
  }
}

/** the owner's agent policy refused what was asked (e.g. `--no-redact` under `redact: always`) */
export class KeyrackPolicyError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'policy' })
  }
}

/** `keyrack audit --verify` found the audit log changed since keyrack wrote it */
export class KeyrackAuditTamperedError extends KeyrackError {
  constructor(message: string, hint: string[] = []) {
    super(message, { hint, exit: 'auditTampered' })
  }
}

/** the user stopped a prompt (Ctrl-C, Esc): nothing after it ran */
export class KeyrackCancelledError extends KeyrackUsageError {
  constructor(hint: string[] = []) {
    super('cancelled', hint)
  }
}

/**
 * Input was needed and nobody can be asked: no terminal, and no flag or stdin carried it.
 * The hint names the flag or stdin form that works without a terminal.
 */
export class KeyrackNoTerminalError extends KeyrackUsageError {}

/**
 * The secret given to `set` cannot be stored as it is: empty, a NUL byte (no environment variable
 * can carry one), not valid UTF-8 text, or larger than the limit (src/domain/secret.ts). The
 * message names the key and the reason, never the secret; nothing was written.
 */
export class KeyrackSecretInvalidError extends KeyrackUsageError {}

/**
 * What may be said about an error that is not a KeyrackError: its class and an errno code
 * (`TypeError`, `Error EACCES`) — words that cannot carry a secret. Never its message: errors
 * from spawn, the environment or decoding quote the value they choked on.
 */
export function describeForeignError(error: unknown): string {
  const name = error instanceof Error && /^[A-Za-z][A-Za-z0-9_]{0,40}$/.test(error.name) ? error.name : 'Error'
  const code = typeof error === 'object' && error !== null && 'code' in error ? (error as { code: unknown }).code : undefined
  return typeof code === 'string' && /^E[A-Z0-9_]{1,20}$/.test(code) ? `${name} ${code}` : name
}
