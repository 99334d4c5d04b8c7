/**
 * The peer-credential lookup fails closed (issue 8): every way it can fail yields "unknown",
 * which the daemon and the client treat as "not us". A fail-open mutation (a failed lookup
 * taken as our uid) must turn these, and the server tests that inject a failing lookup, red.
 */
import { expect, test } from 'bun:test'
import { libc } from '../../src/daemon/libc.ts'
import { peerCred, peerUidOf } from '../../src/daemon/peercred.ts'

type Lib = ReturnType<typeof libc>

test('getsockopt(SO_PEERCRED) failing, or answering short, throws', () => {
  const failing = { os: 'linux', fn: { getsockopt: () => -1 } } as unknown as Lib
  expect(() => peerCred(3, failing)).toThrow('getsockopt(SO_PEERCRED) failed')
  const short = { os: 'linux', fn: { getsockopt: (_fd: number, _l: number, _o: number, _b: Int32Array, len: Uint32Array) => ((len[0] = 4), 0) } } as unknown as Lib
  expect(() => peerCred(3, short)).toThrow('getsockopt(SO_PEERCRED) failed')
  const macos = { os: 'darwin', fn: { getpeereid: () => -1 } } as unknown as Lib
  expect(() => peerCred(3, macos)).toThrow('getpeereid failed')
})

test('a successful getsockopt is read as pid, uid, gid (unsigned)', () => {
  const answer = { os: 'linux', fn: { getsockopt: (_fd: number, _l: number, _o: number, b: Int32Array) => ((b[0] = 42), (b[1] = 1000), (b[2] = -1), 0) } } as unknown as Lib
  expect(peerCred(3, answer)).toEqual({ pid: 42, uid: 1000, gid: 4294967295 })
})

test('peerUidOf: no fd, or a lookup that throws, is unknown (undefined), never a uid', () => {
  expect(peerUidOf({}, () => ({ uid: 0, gid: 0 }))).toBeUndefined()
  expect(peerUidOf({ fd: -1 }, () => ({ uid: 0, gid: 0 }))).toBeUndefined()
  expect(peerUidOf({ fd: 7 }, () => {
    throw new Error('getsockopt(SO_PEERCRED) failed')
  })).toBeUndefined()
  expect(peerUidOf({ fd: 7 }, () => ({ uid: 1234, gid: 0 }))).toBe(1234)
})
