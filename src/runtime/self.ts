/**
 * How to start this keyrack again (for the daemon): the compiled binary re-launches itself; from
 * source under Bun it is Bun running the CLI entry point. The daemon needs Bun (Bun.listen, and
 * bun:ffi for the peer-credential check and the hardening), so the SDK on Node or Deno starts it
 * with the `bun` on PATH running this package's own src/cli/main.ts (the same code), else with a
 * `keyrack` binary on PATH; with neither, the error says that the daemon needs Bun.
 */
import { existsSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KeyrackError } from '../domain/errors.ts'

export function selfCommand(args: string[], env: Record<string, string | undefined> = process.env): string[] {
  // a compiled Bun binary serves its modules from the embedded /$bunfs filesystem
  if (import.meta.url.includes('$bunfs')) return [process.execPath, ...args]
  const entry = packageEntry()
  if (process.versions.bun && entry) return [process.execPath, entry, ...args]
  const bun = onPath('bun', env)
  if (bun && entry) return [bun, entry, ...args]
  const binary = onPath('keyrack', env)
  if (binary) return [binary, ...args]
  throw new KeyrackError(`the keyrack daemon runs on Bun, and neither \`bun\` nor the \`keyrack\` binary is on PATH (this is ${runtimeName()})`, {
    exit: 'environment',
    hint: [
      'install the keyrack binary: curl -fsSL https://github.com/ehmpathy/keyrack/releases/latest/download/install.sh | sh',
      'or install Bun, which runs the daemon from this package: npm install --global bun',
    ],
  })
}

/** src/cli/main.ts of this package, from src/runtime/ or from the bundled dist/js/chunks/ */
function packageEntry(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'src', 'cli', 'main.ts')
    if (existsSync(candidate)) return candidate
    dir = dirname(dir)
  }
  return null
}

function onPath(tool: string, env: Record<string, string | undefined>): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, tool))) return join(dir, tool)
  return null
}

export const runtimeName = (): string =>
  process.versions.bun ? `Bun ${process.versions.bun}` : typeof (globalThis as { Deno?: unknown }).Deno === 'object' ? 'Deno' : `Node ${process.versions.node}`
