/**
 * Who is calling: a process and the chain of its parents up to its login session's leader (the
 * login shell or the terminal's session), as the kernel reports them. The audit log records it,
 * and agent detection looks in it for harnesses that set no environment marker.
 *
 * Only the executable's path and the kernel's short name are read — never the command line or
 * the environment, which may hold secrets.
 *
 * Platform seam: `ProcessTable` is one small interface; Linux reads /proc, macOS asks libproc
 * (proc_pidinfo PROC_PIDTBSDINFO + proc_pidpath) and getsid through bun:ffi. Tests pass a table
 * of their own.
 */
import { readFileSync, readlinkSync } from 'node:fs'

export interface ProcessInfo {
  pid: number
  ppid: number
  /** the session id (the session leader's pid), or null when unknown */
  sid: number | null
  /** the executable's absolute path, or null when the kernel will not say (another user's process) */
  exe: string | null
  /** the kernel's short name for it (comm: at most 15 characters on Linux, 16 on macOS) */
  name: string | null
}

export interface ProcessTable {
  /** what the kernel says about one process, or null when it does not exist (or cannot be read at all) */
  read(pid: number): ProcessInfo | null
}

/** one link of a chain as recorded: no ppid/sid (the order says who is whose parent) */
export interface ChainLink {
  pid: number
  exe: string | null
  name: string | null
}

/** a chain never walks further than this (a loop or a very deep tree ends it) */
export const MAX_CHAIN = 32

/**
 * The process and its ancestors, nearest first, ending with the leader of the first process's
 * login session (or pid 1, or where the kernel stops answering).
 */
export function processChain(pid: number, table: ProcessTable = platformProcessTable()): ChainLink[] {
  const chain: ChainLink[] = []
  const seen = new Set<number>()
  let sid: number | null | undefined
  for (let current = pid; current > 0 && chain.length < MAX_CHAIN && !seen.has(current); ) {
    seen.add(current)
    const info = table.read(current)
    if (info === null) break
    chain.push({ pid: info.pid, exe: info.exe, name: info.name })
    sid ??= info.sid
    // the session leader is the last link: above it is the terminal, sshd or init, not the caller
    if (info.pid === 1 || (sid !== null && info.pid === sid)) break
    current = info.ppid
  }
  return chain
}

let memo: ProcessTable | undefined

/** the table for this OS (memoised); on an OS keyrack cannot read, every lookup answers null */
export function platformProcessTable(): ProcessTable {
  memo ??= process.platform === 'linux' ? linuxProcessTable('/proc') : process.platform === 'darwin' ? darwinProcessTable() : { read: () => null }
  return memo
}

/** Linux: /proc/<pid>/stat for ppid, session and comm; the /proc/<pid>/exe link for the path */
export function linuxProcessTable(procRoot: string): ProcessTable {
  return {
    read(pid) {
      let stat: string
      try {
        stat = readFileSync(`${procRoot}/${pid}/stat`, 'latin1')
      } catch {
        return null
      }
      // "pid (comm) state ppid pgrp session …": comm may hold spaces and parentheses, so split at the last ')'
      const open = stat.indexOf('(')
      const close = stat.lastIndexOf(')')
      if (open === -1 || close < open) return null
      const fields = stat.slice(close + 2).split(' ')
      const ppid = Number(fields[1])
      const sid = Number(fields[3])
      let exe: string | null = null
      try {
        exe = readlinkSync(`${procRoot}/${pid}/exe`)
      } catch {
        // another user's process, a non-dumpable one, or a kernel thread: the name still says something
      }
      return { pid, ppid: Number.isInteger(ppid) ? ppid : 0, sid: Number.isInteger(sid) && sid > 0 ? sid : null, exe, name: stat.slice(open + 1, close) }
    },
  }
}

/**
 * macOS: libproc's proc_pidinfo(PROC_PIDTBSDINFO) fills struct proc_bsdinfo (<sys/proc_info.h>):
 * pbi_pid at byte 12, pbi_ppid at 16, pbi_comm[16] at 48; proc_pidpath gives the executable.
 * bun:ffi is loaded on first use only (Node and Deno SDK users never reach it).
 */
function darwinProcessTable(): ProcessTable {
  let lib: DarwinProc | null | undefined
  return {
    read(pid) {
      lib ??= openDarwinProc()
      if (lib === null) return null
      return lib.read(pid)
    },
  }
}

interface DarwinProc {
  read(pid: number): ProcessInfo | null
}

const PROC_PIDTBSDINFO = 3
const PROC_BSDINFO_SIZE = 136
const PROC_PIDPATHINFO_MAXSIZE = 4096

function openDarwinProc(): DarwinProc | null {
  try {
    const { dlopen, FFIType } = require('bun:ffi') as typeof import('bun:ffi')
    const { symbols } = dlopen('/usr/lib/libSystem.B.dylib', {
      proc_pidinfo: { args: [FFIType.i32, FFIType.i32, FFIType.u64, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
      proc_pidpath: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
      getsid: { args: [FFIType.i32], returns: FFIType.i32 },
    })
    return {
      read(pid) {
        const info = new Uint8Array(PROC_BSDINFO_SIZE)
        if (symbols.proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, info, PROC_BSDINFO_SIZE) !== PROC_BSDINFO_SIZE) return null
        const view = new DataView(info.buffer)
        const path = new Uint8Array(PROC_PIDPATHINFO_MAXSIZE)
        const pathLength = symbols.proc_pidpath(pid, path, PROC_PIDPATHINFO_MAXSIZE)
        const comm = info.subarray(48, 64)
        const end = comm.indexOf(0)
        const sid = symbols.getsid(pid)
        return {
          pid: view.getInt32(12, true),
          ppid: view.getInt32(16, true),
          sid: sid > 0 ? sid : null,
          exe: pathLength > 0 ? new TextDecoder().decode(path.subarray(0, pathLength)) : null,
          name: new TextDecoder().decode(end === -1 ? comm : comm.subarray(0, end)) || null,
        }
      },
    }
  } catch {
    return null
  }
}
