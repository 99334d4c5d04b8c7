/**
 * A release folder built by build.ts, as the release workflow builds it: every target
 * (keyrack-<os>-<arch>[-musl]) and SHA256SUMS. Building six binaries takes a while, so the folder
 * is kept in dist/test-release/ and rebuilt only when its inputs change (the source tree, build.ts,
 * package.json, package-lock.json, the Bun version): a fingerprint file records what it was built from.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { buildAll, packageVersion, ROOT, TARGETS, assetName } from '../../build.ts'

export const TEST_RELEASE_DIR = join(ROOT, 'dist', 'test-release')

function fingerprint(): string {
  const hash = createHash('sha256').update(`bun ${Bun.version}\n`)
  const files = ['build.ts', 'package.json', 'package-lock.json']
  for (const entry of readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true }))
    if (entry.isFile()) files.push(relative(ROOT, join(entry.parentPath, entry.name)))
  for (const file of files.sort()) hash.update(`${file}\n`).update(readFileSync(join(ROOT, file)))
  return hash.digest('hex')
}

let built: Promise<string> | undefined

/** the folder holding every target's binary and SHA256SUMS (built once per source change) */
export function testRelease(): Promise<string> {
  built ??= (async () => {
    const stamp = join(TEST_RELEASE_DIR, '.fingerprint')
    const want = fingerprint()
    const complete = TARGETS.every((t) => existsSync(join(TEST_RELEASE_DIR, assetName(t)))) && existsSync(join(TEST_RELEASE_DIR, 'SHA256SUMS'))
    if (complete && existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return TEST_RELEASE_DIR
    rmSync(TEST_RELEASE_DIR, { recursive: true, force: true })
    // a fixed commit, so the binaries do not depend on whether the work tree is dirty
    const { failed } = await buildAll({ outdir: TEST_RELEASE_DIR, commit: 'testrelease0', version: packageVersion() })
    if (failed.length > 0) throw new Error(`build.ts could not build: ${failed.map((f) => `${assetName(f.target)}: ${f.message}`).join('; ')}`)
    writeFileSync(stamp, want)
    return TEST_RELEASE_DIR
  })()
  return built
}
