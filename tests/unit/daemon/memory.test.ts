/**
 * The daemon bounds its memory under a flood from its own user (issue 8): hundreds of
 * connections, each sending a large frame that never ends, must not grow the daemon past a
 * bound. Measured from /proc: the daemon's peak resident set (VmHWM) while the flood is held
 * open. Before the caps, 400 partial 1 MiB frames took it to ~1 GB.
 */
import { afterAll, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connectDaemon } from '../../../src/daemon/client.ts'
import { ensureDaemon } from '../../../src/daemon/launch.ts'
import { BUN, FIXTURES, isAlive, removeDir, tempRuntimeDir, waitFor } from './helpers.ts'

const runtime = tempRuntimeDir()
const socketPath = join(runtime, 'keyrack', 'human.sock')
const pids: number[] = []
afterAll(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  await waitFor(() => pids.every((pid) => !isAlive(pid)), 2000)
  removeDir(runtime)
})

/** kB figures from /proc/<pid>/status */
const memory = (pid: number): { rss: number; peak: number } => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1])
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

test('400 connections each holding a partial 1 MiB frame: the daemon stays within its budget and keeps serving', async () => {
  const { pid } = await ensureDaemon({
    owner: 'human',
    socketPath,
    command: [BUN, join(FIXTURES, 'daemon-entry.ts'), '--owner', 'human', '--grace-ms', '60000', '--watch-ms', '200'],
    env: { ...process.env, XDG_RUNTIME_DIR: runtime },
  })
  pids.push(pid)
  // settle: a first request, then the baseline
  const first = await connectDaemon({ socketPath })
  if (!first.ok) throw new Error(first.message)
  await first.client.ping()
  first.client.close()
  await Bun.sleep(300)
  const before = memory(pid)

  const flood = Bun.spawn([BUN, join(FIXTURES, 'flood.ts'), socketPath, '400', String(1024 * 1024 - 1)], { stdout: 'pipe', stderr: 'inherit' })
  pids.push(flood.pid)
  const outcome = JSON.parse(await firstLine(flood.stdout as ReadableStream<Uint8Array>))
  await Bun.sleep(500)
  const during = memory(pid)
  // while the flood is held open, a well-behaved client is still served
  const probe = await connectDaemon({ socketPath })
  const served = probe.ok ? await probe.client.ping().then(() => true, () => false) : false
  if (probe.ok) probe.client.close()
  flood.kill('SIGKILL')
  const grewMiB = (during.peak - before.rss) / 1024
  console.log(`daemon memory: rss ${(before.rss / 1024).toFixed(1)} MiB before, peak ${(during.peak / 1024).toFixed(1)} MiB during the flood (+${grewMiB.toFixed(1)} MiB); flood ${JSON.stringify(outcome)}`)
  expect(outcome.timedOut).toBeUndefined()
  // the budget is 32 MiB buffered in total; the runtime adds its own (~60 MiB measured, ~400 MiB before the caps)
  expect(grewMiB).toBeLessThan(128)
  expect(served).toBe(true)
}, 60_000)

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader()
  let text = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return text
    text += new TextDecoder().decode(value)
    if (text.includes('\n')) {
      reader.releaseLock()
      return text.slice(0, text.indexOf('\n'))
    }
  }
}
