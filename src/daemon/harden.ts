/**
 * Process hardening for anything that holds secrets in memory (SPEC §10): the daemon, and
 * `unlock` while it carries secrets.
 *
 * - RLIMIT_CORE = {0, 0}: a crash never writes the heap (and its secrets) to a core file;
 *   the hard limit is 0 too, so nothing in-process can raise it again.
 * - Linux prctl(PR_SET_DUMPABLE, 0): besides disabling core dumps, a non-dumpable process's
 *   /proc/<pid>/{environ,mem,maps,…} become owned by root and ptrace-attach by same-uid
 *   processes is refused (ptrace_may_access), so another process of the user cannot read
 *   its memory without CAP_SYS_PTRACE. Note: execve() resets this, which is why the daemon
 *   calls it itself, after it starts.
 * - macOS ptrace(PT_DENY_ATTACH): debuggers (and task_for_pid-based readers acting as a
 *   debugger) cannot attach.
 *
 * Never mlockall(): it would pin the whole JS runtime (tens of MiB) and can fail under
 * RLIMIT_MEMLOCK; swap of the few secret bytes is the lesser risk (SPEC §10).
 */
import { DARWIN, libc, LINUX } from './libc.ts'

export interface HardenResult {
  /** RLIMIT_CORE set to {0, 0} */
  coreDumpsDisabled: boolean
  /** Linux: PR_SET_DUMPABLE 0 took effect */
  nonDumpable: boolean
  /** macOS: PT_DENY_ATTACH succeeded */
  denyAttach: boolean
}

/**
 * Apply every hardening step this platform supports and report which ones succeeded.
 * Never throws: the caller decides whether a partial result is acceptable (the daemon logs
 * nothing and carries on; `keyrack doctor` can report it).
 */
export function hardenProcess(): HardenResult {
  const result: HardenResult = { coreDumpsDisabled: false, nonDumpable: false, denyAttach: false }
  let lib
  try {
    lib = libc()
  } catch {
    return result
  }
  const zero = new BigUint64Array(2) // struct rlimit { rlim_t cur; rlim_t max } = {0, 0}
  try {
    result.coreDumpsDisabled = lib.fn.setrlimit(lib.os === 'linux' ? LINUX.RLIMIT_CORE : DARWIN.RLIMIT_CORE, zero) === 0
  } catch {
    // leave false
  }
  try {
    if (lib.os === 'linux') {
      result.nonDumpable =
        lib.fn.prctl(LINUX.PR_SET_DUMPABLE, 0n, 0n, 0n, 0n) === 0 && lib.fn.prctl(LINUX.PR_GET_DUMPABLE, 0n, 0n, 0n, 0n) === 0
    } else {
      result.denyAttach = lib.fn.ptrace(DARWIN.PT_DENY_ATTACH, 0, null, 0) === 0
    }
  } catch {
    // leave false
  }
  return result
}
