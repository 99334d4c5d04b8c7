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
 */
import { dlopen, FFIType, type Library } from 'bun:ffi'

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
  getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  // prctl is variadic in glibc; integer-only varargs use the normal convention on x86_64 and arm64 Linux
  prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  setsid: { args: [], returns: FFIType.i32 },
  dup2: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
} as const

const darwinSymbols = {
  getpeereid: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  ptrace: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  setsid: { args: [], returns: FFIType.i32 },
  dup2: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
} as const

type LinuxLib = Library<typeof linuxSymbols>['symbols']
type DarwinLib = Library<typeof darwinSymbols>['symbols']
export type Libc = { os: 'linux'; fn: LinuxLib } | { os: 'darwin'; fn: DarwinLib }

let memo: Libc | undefined

/** the platform's libc; throws an Error (not a KeyrackError: callers decide what it means) */
export function libc(): Libc {
  if (memo) return memo
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
