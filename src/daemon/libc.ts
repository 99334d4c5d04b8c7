/**
 * The few libc calls the daemon needs and Bun does not expose, via bun:ffi.
 *
 * Opened lazily on first use (never at import: `keyrack get` must not pay for dlopen
 * unless it talks to a daemon) and memoized, since the handle is a process-wide resource.
 * Linux (glibc, then musl) and macOS (libSystem) only; elsewhere `libc()` throws and the
 * callers fail closed.
 *
 * Constants are per platform and listed here once. Linux values are the same on x86_64 and
 * arm64 (asm-generic); macOS values are from <sys/socket.h>, <sys/resource.h>, <sys/ptrace.h>.
 *
 * bun:ffi is required when libc() is first called, not imported by this module, so that the SDK
 * (which imports the daemon client) loads on Node and Deno; there libc() throws BunRequiredError.
 */
import type { Library } from 'bun:ffi'

export const LINUX = {
  SOL_SOCKET: 1,
  SO_PEERCRED: 17,
  RLIMIT_CORE: 4,
  PR_SET_DUMPABLE: 4,
  PR_GET_DUMPABLE: 3,
} as const
export const DARWIN = {
  RLIMIT_CORE: 4,
  PT_DENY_ATTACH: 31,
} as const

const linuxSymbols = {
  getsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'ptr'], returns: 'i32' },
  setrlimit: { args: ['i32', 'ptr'], returns: 'i32' },
  // prctl is variadic in glibc; integer-only varargs use the normal convention on x86_64 and arm64 Linux
  prctl: { args: ['i32', 'u64', 'u64', 'u64', 'u64'], returns: 'i32' },
  setsid: { args: [], returns: 'i32' },
  dup2: { args: ['i32', 'i32'], returns: 'i32' },
} as const

const darwinSymbols = {
  getpeereid: { args: ['i32', 'ptr', 'ptr'], returns: 'i32' },
  setrlimit: { args: ['i32', 'ptr'], returns: 'i32' },
  ptrace: { args: ['i32', 'i32', 'ptr', 'i32'], returns: 'i32' },
  setsid: { args: [], returns: 'i32' },
  dup2: { args: ['i32', 'i32'], returns: 'i32' },
} as const

type LinuxLib = Library<typeof linuxSymbols>['symbols']
type DarwinLib = Library<typeof darwinSymbols>['symbols']
export type Libc = { os: 'linux'; fn: LinuxLib } | { os: 'darwin'; fn: DarwinLib }

let memo: Libc | undefined

/** what needs bun:ffi on a runtime without it (Node, Deno): the error says so */
export class BunRequiredError extends Error {
  override name = 'BunRequiredError'
  constructor(what: string) {
    super(`${what} needs Bun (bun:ffi); this is ${typeof (globalThis as { Deno?: unknown }).Deno === 'object' ? 'Deno' : `Node ${process.versions.node}`}`)
  }
}

/** the platform's libc; throws an Error (not a KeyrackError: callers decide what it means) */
export function libc(): Libc {
  if (memo) return memo
  if (!process.versions.bun) throw new BunRequiredError('calling libc (peer credentials, hardening)')
  const { dlopen } = (import.meta as unknown as { require(id: string): typeof import('bun:ffi') }).require('bun:ffi')
  if (process.platform === 'linux') {
    const names = ['libc.so.6', `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`]
    for (const name of names) {
      try {
        memo = { os: 'linux', fn: dlopen(name, linuxSymbols).symbols }
        return memo
      } catch {
        // try the next name
      }
    }
    throw new Error('cannot load libc')
  }
  if (process.platform === 'darwin') {
    memo = { os: 'darwin', fn: dlopen('/usr/lib/libSystem.B.dylib', darwinSymbols).symbols }
    return memo
  }
  throw new Error(`unsupported platform ${process.platform}`)
}
