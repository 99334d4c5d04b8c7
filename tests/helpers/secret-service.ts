/**
 * A real Secret Service for one test suite: a private D-Bus session bus (dbus-daemon with a
 * config that activates nothing, so no second keyring daemon or GUI prompter can appear) and
 * gnome-keyring-daemon's secrets component on it, its login keyring created and unlocked with a
 * throwaway password read from stdin. Its files live under the given home; `stop()` ends both
 * daemons (and waits for them). Nothing here touches the machine's own bus or keyring.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { missingTool } from './skips.ts'

export const SECRET_SERVICE_TOOLS = ['dbus-daemon', 'dbus-send', 'gnome-keyring-daemon', 'secret-tool'] as const

/** why a real Secret Service cannot run here, or null */
export const secretServiceMissing = (): string | null => missingTool(...SECRET_SERVICE_TOOLS)

export interface SecretService {
  /** the variables a client needs: the private bus */
  env: { DBUS_SESSION_BUS_ADDRESS: string }
  /** the environment the daemons run in (HOME, XDG dirs), for secret-tool calls of the test itself */
  clientEnv: Record<string, string>
  /** locks the login keyring (as the desktop does on a timeout): only a prompt can open it again */
  lock(): Promise<void>
  /** `secret-tool lookup service keyrack account <account>`: what a user would see */
  lookup(account: string): { code: number; stdout: string }
  stop(): Promise<void>
}

const BUS_CONFIG = (socket: string) => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

/**
 * @param dir a directory of the test's own (the bus socket and config go in `<dir>/dbus`)
 * @param home the HOME the keyring files go under (`<home>/.local/share/keyrings`)
 * @param runtimeDir the XDG_RUNTIME_DIR of the test (gnome-keyring's control socket goes there)
 */
export async function startSecretService({
  dir,
  home,
  runtimeDir,
  password = 'throwaway-keyring-password',
  keyring = true,
}: {
  dir: string
  home: string
  runtimeDir: string
  password?: string
  /** false: the bus alone, with no Secret Service on it */
  keyring?: boolean
}): Promise<SecretService> {
  const busDir = join(dir, 'dbus')
  mkdirSync(busDir, { recursive: true, mode: 0o700 })
  const config = join(busDir, 'session.conf')
  writeFileSync(config, BUS_CONFIG(join(busDir, 'bus')))
  const daemonEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_RUNTIME_DIR: runtimeDir,
    LANG: 'C.UTF-8',
  }
  const started: Subprocess[] = []
  const stop = async () => {
    for (const proc of started.reverse()) {
      proc.kill('SIGTERM')
      const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(3000).then(() => false)])
      if (!done) {
        proc.kill('SIGKILL')
        await proc.exited
      }
    }
    started.length = 0
  }
  try {
    const bus = Bun.spawn(['dbus-daemon', `--config-file=${config}`, '--nofork', '--nopidfile', '--print-address=1'], { env: daemonEnv, stdin: 'ignore', stdout: 'pipe', stderr: 'ignore' })
    started.push(bus)
    const address = await firstLine(bus.stdout as ReadableStream<Uint8Array>, 5000)
    if (!address.startsWith('unix:')) throw new Error(`dbus-daemon printed no address (${JSON.stringify(address)})`)
    const withBus = { ...daemonEnv, DBUS_SESSION_BUS_ADDRESS: address }
    if (keyring) {
      // --unlock reads the login keyring's password from stdin: the keyring is created and opened with it
      const daemon = Bun.spawn(['gnome-keyring-daemon', '--foreground', '--unlock', '--components=secrets'], { env: withBus, stdin: 'pipe', stdout: 'ignore', stderr: 'ignore' })
      started.push(daemon)
      const stdin = daemon.stdin as import('bun').FileSink
      stdin.write(password)
      stdin.end()
      await waitFor(() => hasOwner(withBus, 'org.freedesktop.secrets'), 10_000, 'gnome-keyring-daemon did not take org.freedesktop.secrets on the private bus')
    }
    return {
      env: { DBUS_SESSION_BUS_ADDRESS: address },
      clientEnv: withBus,
      async lock() {
        const r = Bun.spawnSync(['dbus-send', '--session', '--dest=org.freedesktop.secrets', '--type=method_call', '--print-reply', '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock', 'array:objpath:/org/freedesktop/secrets/collection/login'], { env: withBus })
        if (r.exitCode !== 0) throw new Error(`could not lock the keyring: ${r.stderr.toString()}`)
      },
      lookup(account) {
        const r = Bun.spawnSync(['secret-tool', 'lookup', 'service', 'keyrack', 'account', account], { env: withBus })
        return { code: r.exitCode, stdout: r.stdout.toString() }
      },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * The same Secret Service, started synchronously as background daemons on the user's standard bus
 * address (`$XDG_RUNTIME_DIR/bus`, where libsecret looks when DBUS_SESSION_BUS_ADDRESS is unset),
 * for a harness whose steps are synchronous (the README doc tests' scratch machine). `stop()` ends
 * the bus and every keyring daemon running with this HOME.
 */
export function startSecretServiceDetached({ dir, home, runtimeDir, password = 'throwaway-keyring-password' }: { dir: string; home: string; runtimeDir: string; password?: string }): { stop(): void } {
  const busDir = join(dir, 'dbus')
  mkdirSync(busDir, { recursive: true, mode: 0o700 })
  const config = join(busDir, 'session.conf')
  writeFileSync(config, BUS_CONFIG(join(runtimeDir, 'bus')))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_RUNTIME_DIR: runtimeDir,
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(runtimeDir, 'bus')}`,
    LANG: 'C.UTF-8',
  }
  const bus = spawnSync('dbus-daemon', [`--config-file=${config}`, '--fork', '--nopidfile', '--print-pid=1'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 })
  const busPid = Number(bus.stdout?.trim())
  if (bus.status !== 0 || !busPid) throw new Error(`dbus-daemon did not start (exit ${bus.status})`)
  const stop = () => {
    for (const pid of [busPid, ...pidsOf('gnome-keyring-daemon', home)])
      try {
        process.kill(pid, 'SIGTERM')
      } catch {}
  }
  const keyring = spawnSync('gnome-keyring-daemon', ['--daemonize', '--unlock', '--components=secrets'], { env, input: password, encoding: 'utf8', stdio: ['pipe', 'ignore', 'ignore'], timeout: 10_000 })
  const deadline = Date.now() + 10_000
  while (keyring.status !== 0 || !hasOwner(env, 'org.freedesktop.secrets')) {
    if (keyring.status !== 0 || Date.now() > deadline) {
      stop()
      throw new Error(`gnome-keyring-daemon did not take org.freedesktop.secrets (exit ${keyring.status})`)
    }
    spawnSync('sleep', ['0.02'])
  }
  return { stop }
}

/** pids of `name` processes whose environment holds `needle` (the daemons a harness started) */
function pidsOf(name: string, needle: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== name.slice(0, 15)) continue
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').includes(needle)) pids.push(Number(entry))
    } catch {
      // gone, or not ours to read
    }
  }
  return pids
}

function hasOwner(env: Record<string, string>, name: string): boolean {
  const r = Bun.spawnSync(['dbus-send', '--session', '--dest=org.freedesktop.DBus', '--type=method_call', '--print-reply', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', `string:${name}`], { env })
  return r.exitCode === 0 && /boolean true/.test(r.stdout.toString())
}

async function waitFor(check: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(message)
    await Bun.sleep(20)
  }
}

async function firstLine(stream: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stream.getReader()
  let text = ''
  const deadline = Date.now() + timeoutMs
  try {
    while (!text.includes('\n')) {
      const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)])
      if (next === null || next.done) break
      text += new TextDecoder().decode(next.value)
    }
  } finally {
    reader.releaseLock()
  }
  return text.split('\n')[0]!.trim()
}
