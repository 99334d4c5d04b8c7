/**
 * Ports: how keyrack's adapters reach the world outside the process — external tools (`spawn`),
 * HTTP (`fetch`), a human (`prompt`) and time (`now`). They sit on the Context, so every vault and
 * mech uses the same ones and a test swaps a port, never an adapter (tests/fakes/ports.ts).
 *
 * Rules every implementation keeps:
 *  - spawn: argv never carries a secret (secrets go on `stdin`); every call has a timeout; a tool
 *    that is not on PATH is a KeyrackVaultUnavailableError naming how to install it. A tool that
 *    must ask the human itself (a sign-in) runs with `terminal: true`, only when there is a prompt.
 *  - prompt: exists only when a human is at a terminal. Code that needs input and finds no prompt
 *    throws KeyrackNoTerminalError naming the flag or stdin form that works without one — never
 *    waits. A cancelled prompt throws KeyrackCancelledError.
 */

/** an external tool an adapter runs, and how to get it (shown when it is missing) */
export interface ToolInfo {
  /** the executable, looked up on the context's PATH */
  readonly name: string
  /** install commands per platform (`process.platform` names), or the page that says how (a URL) when there is no one-line command; `default` for the others */
  readonly install: Readonly<Partial<Record<'linux' | 'darwin' | 'default', string>>>
  /** what keyrack needs it for, e.g. `vault os.keychain` */
  readonly purpose: string
}

export interface SpawnRequest {
  /** argv[0] is the tool's name (resolved on PATH); never a secret anywhere in argv */
  argv: readonly string[]
  /** written to the tool's stdin, then closed: the only way a secret may reach a tool */
  stdin?: string
  /** kill the tool after this long; default 30 s */
  timeoutMs?: number
  /** the tool's environment; default the context's environment */
  env?: Record<string, string | undefined>
  /** for the "not installed" error; default: the name from argv[0] with no install hint */
  tool?: ToolInfo
  /**
   * The tool talks to the human (`aws sso login` prints the sign-in URL and code): its output is
   * also shown on stderr as it comes — never on stdout, which carries only what was asked for.
   * Only for tools that never print a secret.
   */
  showOutput?: boolean
  /**
   * the tool talks to the human itself (`op signin` asks for the account password): its stdin
   * and stderr are the terminal keyrack runs on, and only stdout is captured. Only when the
   * context has a prompt (a human at a terminal); never with `stdin`. keyrack never sees what
   * is typed: a vault credential that stays between the human and the tool.
   */
  terminal?: boolean
}

export interface SpawnResult {
  /** the exit code (a tool killed by a signal reports 128 + its number) */
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs an external tool to completion.
 * @throws KeyrackVaultUnavailableError when the tool is not on PATH (with the install hint)
 * @throws KeyrackVaultError when it does not finish within the timeout
 */
export type Spawn = (request: SpawnRequest) => Promise<SpawnResult>

export interface Choice<T extends string> {
  value: T
  label: string
  hint?: string
}

/** a human at a terminal; absent from the context when there is none */
export interface Prompt {
  /** hidden input: secrets, never echoed */
  secret(message: string): Promise<string>
  /** a line of visible input (a URL, a region); `initial` is offered as the default */
  text(message: string, initial?: string): Promise<string>
  select<T extends string>(message: string, choices: Choice<T>[], initial?: T): Promise<T>
  confirm(message: string, initial?: boolean): Promise<boolean>
}

/** the clock, in epoch milliseconds (tests move it; expiry and re-mint read it) */
export type Clock = () => number

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>
