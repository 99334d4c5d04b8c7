/**
 * What a daemon-served `keyrack get` loads: the entry point, the get command and the modules it
 * loads lazily on that path (the daemon client and its peer-credential check), with every module
 * they import statically. None of it may import the heavy modules statically — each costs start-up
 * CPU on every get (SPEC §14; bench/run.ts measures it): citty and node:util (main.ts runs get
 * without citty, argv.ts parses), valibot (only the daemon validates requests; the repo manifest's
 * object entries load it), yaml and age-encryption (the full manifest path, the identity), bun:ffi
 * (required inside libc(), when the peer check runs), the AWS SDK, and the node: modules the
 * NOTES name (node:crypto, node:tty, node:fs/promises, node:child_process, node:url).
 */
import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'

const SRC = resolve(import.meta.dir, '..', '..', 'src')
/** the entry point and the get command, and what sdk/get.ts → daemon/owner.ts import() when the daemon answers */
const ROOTS = ['cli/main.ts', 'cli/commands/get.ts', 'daemon/client.ts', 'daemon/peercred.ts']
const HEAVY = [/^citty$/, /^node:util$/, /^valibot$/, /^yaml$/, /^age-encryption$/, /^bun:ffi$/, /^@aws-sdk\//, /^node:(crypto|tty|fs\/promises|child_process|url)$/]

/** the static, value imports of a file (type-only imports are erased; import() is lazy) */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [
    ...[...text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'"]*?\sfrom\s+'([^']+)'/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*import\s+'([^']+)'/gm)].map((m) => m[1]!),
  ]
}

/** every module reached from the roots by static imports: file → its bare imports */
function closure(): Map<string, string[]> {
  const seen = new Map<string, string[]>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    const bare: string[] = []
    seen.set(file, bare)
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec))
      else bare.push(spec)
    }
  }
  for (const root of ROOTS) visit(resolve(SRC, root))
  return seen
}

test('the daemon-served get path imports no heavy module statically', () => {
  const found: string[] = []
  for (const [file, bare] of closure()) for (const spec of bare) if (HEAVY.some((h) => h.test(spec))) found.push(`${relative(SRC, file)} → ${spec}`)
  expect(found).toEqual([])
})

test('the get path is what the test thinks it is (the lazy steps are still lazy)', () => {
  const files = [...closure().keys()].map((f) => relative(SRC, f))
  // the command table's loaders, the adapters and the unlock/local paths stay behind import()
  for (const lazy of ['sdk/unlock.ts', 'sdk/local-sources.ts', 'daemon/launch.ts', 'runtime/self.ts', 'cli/mount.ts', 'cli/help.ts', 'daemon/protocol.ts'])
    expect(files).not.toContain(lazy)
  expect(files).toContain('sdk/get.ts')
  expect(files).toContain('manifests/repo-file.ts')
})
