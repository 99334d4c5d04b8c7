/**
 * Drives the compiled binary on a real pseudo-terminal (a small python3 `pty` helper): waits for
 * each prompt and types keys, as a human would. `PYTHON` is null when python3 is missing; tests
 * that need a terminal skip then (and say so).
 */
import { spawnSync } from 'node:child_process'
import { BIN, type Sandbox } from './harness.ts'

export const PYTHON = Bun.which('python3')

/**
 * Spawns argv in a pty; for each step waits (after the previous match) for `expect` to appear,
 * then types `send` (a string, or the bytes in `sendBase64`), or picks the option `choose` in a
 * select; then waits for the exit. Prints {ok, code, out, missing} as JSON.
 */
const DRIVER = String.raw`
import base64, json, os, pty, select, sys, time
spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.chdir(spec['cwd'])
    os.execve(spec['argv'][0], spec['argv'], spec['env'])
buf, pos, code, missing = b'', 0, None, None
deadline = time.time() + spec['timeout']
def pump(wait):
    global buf
    r, _, _ = select.select([fd], [], [], wait)
    if not r: return True
    try: chunk = os.read(fd, 65536)
    except OSError: return False
    buf += chunk
    return bool(chunk)
for step in spec['steps']:
    want = step['expect'].encode()
    alive = True
    while want not in buf[pos:] and time.time() < deadline and alive: alive = pump(0.05)
    if want not in buf[pos:]:
        missing = step['expect']; break
    pos = buf.index(want, pos) + len(want)
    time.sleep(0.2)
    if 'choose' in step:
        # a select prompt: arrow down until the marked (●) option is the one wanted, then enter
        for _ in range(30):
            while select.select([fd], [], [], 0.15)[0] and pump(0): pass
            marked = buf[pos:].rsplit('\xe2\x97\x8f'.encode('latin1'), 1)
            if len(marked) == 2 and step['choose'].encode() in marked[1].split(b'\n', 1)[0]: break
            os.write(fd, b'\x1b[B')
            time.sleep(0.1)
        else:
            missing = step['expect'] + ' -> ' + step['choose']; break
        os.write(fd, b'\r')
        continue
    os.write(fd, base64.b64decode(step['sendBase64']) if 'sendBase64' in step else step['send'].encode())
while time.time() < deadline:
    if not pump(0.05): break
    done, status = os.waitpid(pid, os.WNOHANG)
    if done: code = os.waitstatus_to_exitcode(status); break
if code is None:
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done: os.kill(pid, 9); done, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except ChildProcessError: pass
while pump(0): pass
print(json.dumps({'ok': missing is None, 'code': code, 'out': buf.decode('utf8', 'replace'), 'missing': missing}))
`

export const ENTER = '\r'
export const CTRL_C = '\u0003'

export type TerminalStep =
  | { expect: string; send: string }
  /** bytes that are not text (invalid UTF-8), base64-encoded */
  | { expect: string; sendBase64: string }
  /** a select prompt: arrow down until the option containing `choose` is marked, then enter */
  | { expect: string; choose: string }
export interface TerminalResult {
  /** every step's text appeared */
  ok: boolean
  code: number
  /** all the terminal showed (stdout and stderr together, as a terminal does) */
  out: string
  /** the step whose `expect` never appeared */
  missing: string | null
}
export interface TerminalOptions {
  /** variables added to the sandbox's environment (e.g. PATH with a fake tool first) */
  env?: Record<string, string | undefined>
  /** run this instead of `keyrack <args>`, e.g. a shell line a user pastes: ['/bin/bash', '-c', '…'] */
  argv?: string[]
  /** seconds the driver waits in all; default 15 */
  timeout?: number
}

const specOf = (sb: Sandbox, args: string[], steps: TerminalStep[], options: TerminalOptions): string =>
  JSON.stringify({ cwd: sb.repo, argv: options.argv ?? [BIN, ...args], env: sb.env({ TERM: 'xterm', ...options.env }), steps, timeout: options.timeout ?? 15 })

function parse(sb: Sandbox, status: number | null, stdout: string, stderr: string): TerminalResult {
  if (status !== 0) throw new Error(`pty driver failed: ${stderr}`)
  const result = JSON.parse(stdout) as TerminalResult
  sb.transcript.push(result.out)
  return result
}

export function onTerminal(sb: Sandbox, args: string[], steps: TerminalStep[], options: TerminalOptions = {}): TerminalResult {
  const r = spawnSync(PYTHON!, ['-c', DRIVER, specOf(sb, args, steps, options)], { encoding: 'utf8', timeout: ((options.timeout ?? 15) + 5) * 1000 })
  return parse(sb, r.status, r.stdout, r.stderr)
}

/**
 * The same without blocking this process: for a test whose loopback fake (tests/fakes/github-api.ts)
 * runs in the test process, which a blocking spawn would keep from answering the binary
 */
export async function onTerminalAsync(sb: Sandbox, args: string[], steps: TerminalStep[], options: TerminalOptions = {}): Promise<TerminalResult> {
  const proc = Bun.spawn([PYTHON!, '-c', DRIVER, specOf(sb, args, steps, options)], { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), ((options.timeout ?? 15) + 5) * 1000)
  const [stdout, stderr, status] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  return parse(sb, status, stdout, stderr)
}

