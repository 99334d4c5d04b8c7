/**
 * The AWS fake (./aws-server.ts) in a process of its own, for acceptance tests: the harness runs
 * the compiled binary with spawnSync, which blocks this process's event loop, so a server living
 * here could not answer it. A small control API next to the real endpoints lets the test look at
 * the fake's events and move its clock:
 *
 *   GET  /__fake/state              { events, issued: [accessKeyId…], parameters: [name…], startUrl }
 *   POST /__fake/advance?ms=N       moves the fake's clock
 *   POST /__fake/approve?value=0|1  does the "human" approve device authorizations?
 *   POST /__fake/end-sessions       ends every sign-in session
 *
 * Run directly (`bun tests/fakes/aws-process.ts '<options json>'`), it prints its URL and serves
 * until stdin closes, so it never outlives the test that started it.
 */
import { awsEndpointEnv, createAwsFake, type AwsFakeEvent, type AwsFakeOptions } from './aws-server.ts'

export interface AwsFakeProcess {
  url: string
  /** the directory user's access portal URL */
  startUrl: string
  /** AWS_ENDPOINT_URL_* and AWS_REGION pointing at the fake */
  env: Record<string, string>
  /** the GitHub Actions OIDC variables a job with `id-token: write` gets */
  actionsEnv: Record<string, string>
  state(): Promise<{ events: AwsFakeEvent[]; issued: string[]; parameters: string[]; startUrl: string }>
  advance(ms: number): Promise<void>
  approve(value: boolean): Promise<void>
  endSessions(): Promise<void>
  stop(): void
}

export async function startAwsFakeProcess(options: Omit<AwsFakeOptions, 'now'> = {}): Promise<AwsFakeProcess> {
  const proc = Bun.spawn([process.execPath, import.meta.path, JSON.stringify(options)], { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit' })
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader()
  let head = ''
  while (!head.includes('\n')) {
    const { value, done } = await reader.read()
    if (done) throw new Error('the aws fake did not start')
    head += new TextDecoder().decode(value)
  }
  const { url, actionsEnv, startUrl } = JSON.parse(head.split('\n')[0]!) as { url: string; actionsEnv: Record<string, string>; startUrl: string }
  const post = async (path: string) => {
    const r = await fetch(`${url}${path}`, { method: 'POST' })
    if (!r.ok) throw new Error(`aws fake: ${path} → ${r.status}`)
  }
  return {
    url,
    startUrl,
    env: awsEndpointEnv(url),
    actionsEnv,
    state: async () => (await (await fetch(`${url}/__fake/state`)).json()) as Awaited<ReturnType<AwsFakeProcess['state']>>,
    advance: (ms) => post(`/__fake/advance?ms=${ms}`),
    approve: (value) => post(`/__fake/approve?value=${value ? 1 : 0}`),
    endSessions: () => post('/__fake/end-sessions'),
    stop: () => {
      ;(proc.stdin as import('bun').FileSink).end()
      proc.kill()
    },
  }
}

if (import.meta.main) {
  const fake = createAwsFake(JSON.parse(process.argv[2] ?? '{}') as AwsFakeOptions)
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(request) {
      const url = new URL(request.url)
      if (!url.pathname.startsWith('/__fake/')) return fake.fetch(request)
      if (url.pathname === '/__fake/state')
        return Response.json({ events: fake.events, issued: [...fake.issued.keys()], parameters: [...fake.parameters.values()].map((p) => p.name), startUrl: fake.startUrl })
      if (url.pathname === '/__fake/advance') fake.advance(Number(url.searchParams.get('ms')))
      else if (url.pathname === '/__fake/approve') fake.approve = url.searchParams.get('value') === '1'
      else if (url.pathname === '/__fake/end-sessions') fake.endSessions()
      else return new Response('unknown control', { status: 404 })
      return new Response('ok')
    },
  })
  Object.assign(fake, { url: `http://127.0.0.1:${server.port}` })
  process.stdout.write(`${JSON.stringify({ url: fake.url, actionsEnv: fake.actionsEnv(), startUrl: fake.startUrl })}\n`)
  // serve until the test closes our stdin (or dies)
  for await (const _ of Bun.stdin.stream()) void _
  server.stop(true)
  process.exit(0)
}

/**
 * Puts the fake `aws` CLI (./aws-cli.ts) on a PATH directory: `<dir>/aws`, a shell wrapper that
 * runs it with this Bun. Returns the directory (prepend it to PATH); argv lands in `logFile`.
 */
export function installFakeAws(dir: string): string {
  const { mkdirSync, writeFileSync } = require('node:fs') as typeof import('node:fs')
  const { join } = require('node:path') as typeof import('node:path')
  const bin = join(dir, 'fake-bin')
  mkdirSync(bin, { recursive: true })
  const script = join(import.meta.dir, 'aws-cli.ts')
  writeFileSync(join(bin, 'aws'), `#!/bin/sh\nexec '${process.execPath}' '${script}' "$@"\n`, { mode: 0o755 })
  return bin
}

/** every argv the fake `aws` recorded in its log file */
export function fakeAwsCalls(logFile: string): string[][] {
  const { existsSync, readFileSync } = require('node:fs') as typeof import('node:fs')
  if (!existsSync(logFile)) return []
  return readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as string[])
}
