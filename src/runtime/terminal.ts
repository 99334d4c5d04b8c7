/**
 * stdout/stderr without Node's stream objects. In a compiled Bun binary the first touch of
 * `process.stdout` or `process.stderr` (even `.isTTY`) builds node:stream and costs ~20 ms of
 * CPU — more than all of a daemon-served `get` — so the hot path writes with Bun.write and asks
 * fstat whether an fd is a terminal. Off Bun (the SDK on Node or Deno) the streams are cheap and
 * used as usual.
 */
import { fstatSync, statSync } from 'node:fs'

type BunIo = { write(target: unknown, data: string): Promise<number>; stdout: unknown; stderr: unknown }
const bun = (globalThis as { Bun?: BunIo }).Bun

/**
 * Whether fd is a terminal: a character device other than /dev/null (a terminal, as far as a
 * command line tool can tell without node:tty, which is as slow to load as the streams).
 */
export function isTerminal(fd: 1 | 2): boolean {
  if (!bun) return Boolean((fd === 1 ? process.stdout : process.stderr).isTTY)
  try {
    const stat = fstatSync(fd)
    if (!stat.isCharacterDevice()) return false
    return stat.rdev !== statSync('/dev/null').rdev
  } catch {
    return false
  }
}

/** writes text to fd and resolves once it is handed off, so what follows cannot overtake it */
export function writeFd(fd: 1 | 2, text: string): Promise<void> {
  if (text === '') return Promise.resolve()
  if (bun) return bun.write(fd === 1 ? bun.stdout : bun.stderr, text).then(() => undefined)
  const stream = fd === 1 ? process.stdout : process.stderr
  return new Promise((resolve, reject) => void stream.write(text, (error) => (error ? reject(error) : resolve())))
}
