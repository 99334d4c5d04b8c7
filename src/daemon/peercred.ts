/**
 * Who is on the other end of a connected unix socket, as the kernel recorded it.
 *
 * Linux: getsockopt(fd, SOL_SOCKET, SO_PEERCRED) → struct ucred { pid, uid, gid } — the
 * credentials at connect() time (client side: at the server's listen() time).
 * macOS: getpeereid(fd, &uid, &gid).
 *
 * Getting the fd: Bun's `Socket` (from Bun.listen / Bun.connect) has an `fd` getter on
 * its prototype (TCPSocket.getFD → us_socket_get_fd) that bun-types does not declare;
 * verified on Bun 1.4.4 for unix sockets on both the accepted and the connecting side.
 * See oven-sh/bun#29597, which cites that getter. `socketFd` reads it defensively and the
 * callers fail closed (drop the connection / refuse to send) when it is missing, so a
 * future Bun that removes it breaks loudly instead of skipping the check.
 */
import { libc, LINUX } from './libc.ts'

export interface PeerCred {
  uid: number
  gid: number
  /** Linux only (SO_PEERCRED); macOS getpeereid gives no pid */
  pid?: number
}

/** the OS fd behind a Bun socket, or undefined when this Bun does not expose it */
export function socketFd(socket: unknown): number | undefined {
  if (typeof socket !== 'object' || socket === null) return undefined
  const fd: unknown = (socket as { fd?: unknown }).fd
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined
}

/**
 * The peer's credentials for a connected unix socket fd.
 * @throws Error when the kernel call fails or the platform is unsupported (callers fail closed)
 */
export function peerCred(fd: number, lib: ReturnType<typeof libc> = libc()): PeerCred {
  if (lib.os === 'linux') {
    const ucred = new Int32Array(3) // pid_t pid; uid_t uid; gid_t gid
    const len = new Uint32Array([ucred.byteLength])
    const rc = lib.fn.getsockopt(fd, LINUX.SOL_SOCKET, LINUX.SO_PEERCRED, ucred, len)
    if (rc !== 0 || len[0] !== ucred.byteLength) throw new Error('getsockopt(SO_PEERCRED) failed')
    // uid_t/gid_t are unsigned; read them back as such (overflowuid 65534 stays 65534, -1 stays 4294967295)
    const ids = new Uint32Array(ucred.buffer)
    return { pid: ucred[0]!, uid: ids[1]!, gid: ids[2]! }
  }
  const uid = new Uint32Array(1)
  const gid = new Uint32Array(1)
  if (lib.fn.getpeereid(fd, uid, gid) !== 0) throw new Error('getpeereid failed')
  return { uid: uid[0]!, gid: gid[0]! }
}

/**
 * The peer's credentials for a Bun socket (the uid, and on Linux the pid the audit log names), or
 * undefined when they cannot be determined (no fd exposed, syscall failed). Callers treat undefined as "not us".
 */
export function peerOf(socket: unknown, lookup: (fd: number) => PeerCred = peerCred): PeerCred | undefined {
  const fd = socketFd(socket)
  if (fd === undefined) return undefined
  try {
    return lookup(fd)
  } catch {
    return undefined
  }
}

/** the peer uid of a Bun socket, or undefined when it cannot be determined (see peerOf) */
export const peerUidOf = (socket: unknown, lookup: (fd: number) => PeerCred = peerCred): number | undefined => peerOf(socket, lookup)?.uid
