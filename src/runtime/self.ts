/**
 * How to start this keyrack again (for the daemon): the compiled binary re-launches itself;
 * from source (SDK users, development) it is Bun running the CLI entry point.
 */
import { fileURLToPath } from 'node:url'

export function selfCommand(args: string[]): string[] {
  // a compiled Bun binary serves its modules from the embedded /$bunfs filesystem
  if (import.meta.url.includes('$bunfs')) return [process.execPath, ...args]
  const entry = fileURLToPath(new URL('../cli/main.ts', import.meta.url))
  // the CLI is TypeScript: under Node (an SDK user), use the `bun` on PATH
  const runtime = process.versions.bun ? process.execPath : 'bun'
  return [runtime, entry, ...args]
}
