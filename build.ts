/**
 * Compiles the keyrack binary with `bun build --compile` (SPEC §2.1, §15).
 *
 *   bun run build.ts                     every release target → dist/keyrack-<os>-<arch>[-musl] + dist/SHA256SUMS
 *   bun run build.ts --single            this machine only    → dist/keyrack + dist/SHA256SUMS
 *   bun run build.ts --targets a,b       only these release targets (e.g. linux-x64,linux-x64-musl)
 *   bun run build.ts --outdir DIR        write to DIR instead of dist/
 *   bun run build.ts --js                the package's JavaScript for Node and Deno → dist/js (+ .d.ts)
 *
 * Why autoload is off: by default a Bun-compiled binary reads `.env` and `bunfig.toml` from its
 * cwd when it starts. keyrack runs inside repos it does not trust, so a repo could set
 * `KEYRACK_*` variables or `preload` code into the process that holds secrets (SPEC §10).
 * tests/acceptance/build.test.ts compiles a probe with these exact options to prove it.
 *
 * Cross-compiling: a compiled binary is the target's Bun runtime with our bundle appended, so each
 * target needs that runtime. Bun would download it by itself, unchecked; instead build.ts takes it
 * from the npm package Bun publishes for each platform (`@oven/bun-linux-x64-musl`, …): fetched with
 * `npm pack` (the npm registry, with npm's proxy/mirror settings), checked against the sha512
 * integrity that package-lock.json pins, unpacked into a cache (node_modules/.cache/keyrack-bun-runtimes,
 * or --runtimes DIR) and handed to Bun as `executablePath`. Once cached, builds run offline. The
 * runtime must be the running Bun's exact version (the bytecode is version-specific).
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

export interface Target {
  os: 'linux' | 'darwin'
  arch: 'x64' | 'arm64'
  /** linux only: musl libc (Alpine) instead of glibc */
  libc?: 'musl'
}

/** every release binary; install.sh maps `uname -s`/`uname -m` (and musl, Rosetta) to these names */
export const TARGETS: readonly Target[] = [
  { os: 'linux', arch: 'x64' },
  { os: 'linux', arch: 'arm64' },
  { os: 'linux', arch: 'x64', libc: 'musl' },
  { os: 'linux', arch: 'arm64', libc: 'musl' },
  { os: 'darwin', arch: 'x64' },
  { os: 'darwin', arch: 'arm64' },
]

export const ROOT = import.meta.dir
export const ENTRYPOINT = join(ROOT, 'src/cli/main.ts')
export const DEFAULT_OUTDIR = join(ROOT, 'dist')

/** `linux-x64-musl`: what install.sh, `keyrack --version` and the asset names call a target */
export const targetName = (t: Target): string => `${t.os}-${t.arch}${t.libc ? `-${t.libc}` : ''}`
export const bunTarget = (t: Target): Bun.Build.CompileTarget =>
  (t.libc ? `bun-${t.os}-${t.arch}-${t.libc}` : `bun-${t.os}-${t.arch}`) as Bun.Build.CompileTarget
export const assetName = (t: Target): string => `keyrack-${targetName(t)}`
/** the npm package that carries this target's Bun runtime (Bun names arm64 `aarch64` there) */
export const runtimePackage = (t: Target): string =>
  `@oven/bun-${t.os}-${t.arch === 'arm64' ? 'aarch64' : 'x64'}${t.libc ? `-${t.libc}` : ''}`

export class BuildError extends Error {
  override name = 'BuildError'
}

/** the version injected as the global `KEYRACK_VERSION` */
export function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  const version = (pkg as { version?: unknown }).version
  if (typeof version !== 'string' || version === '') throw new BuildError('package.json has no "version"')
  return version
}

/**
 * The commit injected as `KEYRACK_COMMIT`: $KEYRACK_COMMIT, else $GITHUB_SHA (a workflow), else
 * `git rev-parse HEAD`; 12 hex digits, `+dirty` when the work tree has uncommitted changes.
 */
export function sourceCommit(): string {
  const given = process.env.KEYRACK_COMMIT || process.env.GITHUB_SHA
  if (given) return given.slice(0, 12)
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' })
  if (head.status !== 0) return 'unknown'
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' })
  return `${head.stdout.trim().slice(0, 12)}${dirty.stdout.trim() ? '+dirty' : ''}`
}

/** the target the running Bun itself is (its runtime compiles that target without any download) */
export function hostTarget(): Target {
  const os = process.platform === 'darwin' ? 'darwin' : 'linux'
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64'
  const report = (process as { report?: { getReport?: () => { header?: { glibcVersionRuntime?: string } } } }).report
  const musl = os === 'linux' && !report?.getReport?.()?.header?.glibcVersionRuntime
  return musl ? { os, arch, libc: 'musl' } : { os, arch }
}

export interface CompileOptions {
  outfile: string
  /** absent = the running Bun's own platform (no download) */
  target?: Target
  /** the target's Bun runtime (from fetchRuntime); absent = the running Bun */
  executablePath?: string
  entrypoint?: string
  version?: string
  commit?: string
}

/** compiles one binary; throws BuildError with Bun's messages when it fails */
export async function compile(options: CompileOptions): Promise<string> {
  const target = options.target ?? hostTarget()
  const label = options.target ? bunTarget(options.target) : 'host'
  let result: Bun.BuildOutput
  try {
    result = await Bun.build({
      entrypoints: [options.entrypoint ?? ENTRYPOINT],
      compile: {
        ...(options.target ? { target: bunTarget(options.target) } : {}),
        ...(options.executablePath ? { executablePath: options.executablePath } : {}),
        outfile: options.outfile,
        autoloadDotenv: false,
        autoloadBunfig: false,
      },
      minify: true,
      bytecode: true,
      format: 'esm',
      // one chunk per lazy import(): without it the whole bundle (typage, noble, bcrypt, the daemon)
      // is evaluated at start and `keyrack get` pays for code it never runs
      splitting: true,
      define: {
        KEYRACK_VERSION: JSON.stringify(options.version ?? packageVersion()),
        KEYRACK_COMMIT: JSON.stringify(options.commit ?? sourceCommit()),
        KEYRACK_TARGET: JSON.stringify(targetName(target)),
      },
    })
  } catch (error) {
    // Bun.build throws an AggregateError (e.g. "Failed to download 'bun-darwin-aarch64-v1.4.4'")
    const messages = error instanceof AggregateError ? error.errors.map(String) : [String(error)]
    throw new BuildError(`${label}: ${messages.join('\n  ')}`)
  }
  if (!result.success) throw new BuildError(`${label}: ${result.logs.map(String).join('\n  ')}`)
  return options.outfile
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** writes `<outdir>/SHA256SUMS` in sha256sum format for the given files */
export function writeChecksums(outdir: string, files: string[]): string {
  const lines = files.map((f) => `${sha256File(f)}  ${basename(f)}\n`).join('')
  const path = join(outdir, 'SHA256SUMS')
  writeFileSync(path, lines)
  return path
}

export const DEFAULT_RUNTIME_CACHE = join(ROOT, 'node_modules', '.cache', 'keyrack-bun-runtimes')

/** what package-lock.json pins for a runtime package: its version and sha512 integrity */
export function lockedRuntime(pkg: string): { version: string; integrity: string } {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages?: Record<string, { version?: string; integrity?: string }>
  }
  const entry = lock.packages?.[`node_modules/${pkg}`]
  if (!entry?.version || !entry.integrity?.startsWith('sha512-'))
    throw new BuildError(`package-lock.json pins no ${pkg} (the \`bun\` devDependency brings one per platform); run \`npm install\``)
  return { version: entry.version, integrity: entry.integrity }
}

/**
 * The Bun runtime for a target: from the cache, else `npm pack` of its @oven package, checked
 * against package-lock.json's sha512 before anything of it is unpacked. Returns the runtime's path.
 */
export function fetchRuntime(target: Target, cacheDir = DEFAULT_RUNTIME_CACHE): string {
  const pkg = runtimePackage(target)
  const { version, integrity } = lockedRuntime(pkg)
  if (version !== Bun.version)
    throw new BuildError(`${pkg}@${version} in package-lock.json is not the running Bun ${Bun.version}; run \`npm ci\` so they match`)
  const dir = join(cacheDir, `${pkg.replace('/', '+')}@${version}`)
  const runtime = join(dir, 'bin', 'bun')
  if (existsSync(runtime)) return runtime
  mkdirSync(cacheDir, { recursive: true })
  const scratch = mkdtempSync(join(tmpdir(), 'keyrack-runtime-'))
  try {
    const packed = spawnSync('npm', ['pack', `${pkg}@${version}`, '--pack-destination', scratch, '--json', '--silent'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    if (packed.status !== 0)
      throw new BuildError(`npm pack ${pkg}@${version} failed (${packed.status}): ${packed.stderr.trim().split('\n').slice(-3).join(' ')}`)
    const filename = (JSON.parse(packed.stdout) as { filename: string }[])[0]?.filename
    if (!filename) throw new BuildError(`npm pack ${pkg}@${version} produced no tarball`)
    const tarball = join(scratch, filename)
    const actual = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`
    if (actual !== integrity)
      throw new BuildError(`${pkg}@${version}: the tarball's sha512 does not match package-lock.json (got ${actual}); refusing to build with it`)
    const unpacked = join(scratch, 'unpacked')
    mkdirSync(unpacked)
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1'], { encoding: 'utf8' })
    if (tar.status !== 0 || !existsSync(join(unpacked, 'bin', 'bun'))) throw new BuildError(`${pkg}@${version}: cannot unpack bin/bun: ${tar.stderr}`)
    rmSync(dir, { recursive: true, force: true })
    renameSync(unpacked, dir)
    return runtime
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

/** builds this machine's binary to `<outdir>/keyrack` offline; returns its path */
export async function buildSingle(options: { outdir?: string; entrypoint?: string } = {}): Promise<string> {
  const outdir = options.outdir ?? DEFAULT_OUTDIR
  mkdirSync(outdir, { recursive: true })
  const outfile = await compile({ outfile: join(outdir, 'keyrack'), entrypoint: options.entrypoint })
  writeChecksums(outdir, [outfile])
  return outfile
}

export interface BuildAllResult {
  built: string[]
  failed: { target: Target; message: string }[]
}

export interface BuildAllOptions {
  outdir?: string
  entrypoint?: string
  /** only these targets (default: TARGETS) */
  targets?: readonly Target[]
  /** where fetched runtimes are kept (default: node_modules/.cache/keyrack-bun-runtimes) */
  runtimes?: string
  version?: string
  commit?: string
}

/** builds every target it can; the checksums list only what was built */
export async function buildAll(options: BuildAllOptions = {}): Promise<BuildAllResult> {
  const outdir = options.outdir ?? DEFAULT_OUTDIR
  mkdirSync(outdir, { recursive: true })
  const version = options.version ?? packageVersion()
  const commit = options.commit ?? sourceCommit()
  const host = targetName(hostTarget())
  const result: BuildAllResult = { built: [], failed: [] }
  for (const target of options.targets ?? TARGETS) {
    try {
      const outfile = join(outdir, assetName(target))
      // the running Bun is the host target's runtime; every other target's comes from npm, checked
      const executablePath = targetName(target) === host ? undefined : fetchRuntime(target, options.runtimes)
      await compile({ outfile, target, executablePath, entrypoint: options.entrypoint, version, commit })
      result.built.push(outfile)
    } catch (error) {
      result.failed.push({ target, message: error instanceof Error ? error.message : String(error) })
    }
  }
  if (result.built.length > 0) writeChecksums(outdir, result.built)
  return result
}

/** the package's entry points (package.json `exports`), relative to src/ */
export const JS_ENTRYPOINTS = ['index.ts', 'cli/mount.ts', 'testing/index.ts'] as const
export const DEFAULT_JS_OUTDIR = join(ROOT, 'dist', 'js')

/**
 * The package as JavaScript for Node ≥ 20 and Deno 2 (Bun runs src/ directly): ESM, one chunk per
 * lazy import, dependencies left as imports, and `.d.ts` files from tsc (tsconfig.build.json) with
 * their `./x.ts` imports rewritten to `./x.js`, so `import { keyrack } from 'keyrack'` is typed too.
 */
export async function buildJs(outdir = DEFAULT_JS_OUTDIR): Promise<string[]> {
  const { readdirSync } = await import('node:fs')
  rmSync(outdir, { recursive: true, force: true })
  const result = await Bun.build({
    entrypoints: JS_ENTRYPOINTS.map((e) => join(ROOT, 'src', e)),
    root: join(ROOT, 'src'),
    outdir,
    target: 'node',
    format: 'esm',
    splitting: true,
    packages: 'external',
    // error classes name themselves with new.target.name: bundling must not rename them
    minify: { keepNames: true },
    naming: { entry: '[dir]/[name].js', chunk: 'chunks/[name]-[hash].js' },
  })
  if (!result.success) throw new BuildError(`js: ${result.logs.map(String).join('\n  ')}`)
  const tsc = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outdir], { encoding: 'utf8' })
  if (tsc.status !== 0) throw new BuildError(`declarations (tsc -p tsconfig.build.json): ${tsc.stdout}${tsc.stderr}`)
  for (const entry of readdirSync(outdir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue
    const file = join(entry.parentPath, entry.name)
    const text = readFileSync(file, 'utf8')
    const rewritten = text.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1$2.js$3')
    if (rewritten !== text) writeFileSync(file, rewritten)
  }
  return result.outputs.map((o) => o.path)
}

/** `linux-x64,darwin-arm64` → targets; throws BuildError naming an unknown one */
export function parseTargets(list: string): Target[] {
  return list.split(',').map((name) => {
    const target = TARGETS.find((t) => targetName(t) === name.trim())
    if (!target) throw new BuildError(`unknown target '${name.trim()}' (targets: ${TARGETS.map(targetName).join(', ')})`)
    return target
  })
}

const USAGE = `usage: bun run build.ts [--single | --targets LIST | --js] [--outdir DIR] [--runtimes DIR]

  (no flags)      build ${TARGETS.map(assetName).join(', ')}
  --single        build only this machine's binary as DIR/keyrack (offline)
  --targets LIST  build only these, e.g. --targets linux-x64,linux-x64-musl
  --outdir DIR    output directory (default: dist/)
  --runtimes DIR  where the targets' Bun runtimes are cached (default: node_modules/.cache/keyrack-bun-runtimes)
  --js            the package's JavaScript and types for Node and Deno (default DIR: dist/js)
`

async function main(argv: string[]): Promise<number> {
  let values: { single?: boolean; outdir?: string; targets?: string; runtimes?: string; js?: boolean; help?: boolean }
  let targets: Target[] | undefined
  try {
    values = parseArgs({
      args: argv,
      options: {
        single: { type: 'boolean' },
        outdir: { type: 'string' },
        targets: { type: 'string' },
        runtimes: { type: 'string' },
        js: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values
    if (values.targets) targets = parseTargets(values.targets)
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  if (values.js) {
    try {
      const outputs = await buildJs(values.outdir ? resolve(values.outdir) : DEFAULT_JS_OUTDIR)
      console.log(`built ${outputs.length} files of the package's JavaScript in ${values.outdir ?? 'dist/js'} (+ .d.ts)`)
      return 0
    } catch (error) {
      console.error(`error: build failed: ${error instanceof Error ? error.message : String(error)}`)
      return 1
    }
  }
  const outdir = values.outdir ? resolve(values.outdir) : DEFAULT_OUTDIR
  const version = packageVersion()

  if (values.single) {
    try {
      const outfile = await buildSingle({ outdir })
      console.log(`built ${outfile} (keyrack ${version}, ${targetName(hostTarget())})`)
      return 0
    } catch (error) {
      console.error(`error: build failed: ${error instanceof Error ? error.message : String(error)}`)
      return 1
    }
  }

  const wanted = targets ?? TARGETS
  const { built, failed } = await buildAll({ outdir, targets: wanted, runtimes: values.runtimes ? resolve(values.runtimes) : undefined })
  for (const file of built) console.log(`built ${file} (keyrack ${version})`)
  for (const { target, message } of failed) {
    console.error(
      `error: could not build ${assetName(target)}: ${message}\n` +
        `  its Bun runtime comes from the npm package ${runtimePackage(target)}; check that npm can reach its registry, ` +
        `or run \`bun run build.ts --single\` to build this machine's binary offline`,
    )
  }
  if (built.length > 0) console.log(`wrote ${join(outdir, 'SHA256SUMS')} (${built.length} of ${wanted.length} targets)`)
  return failed.length === 0 ? 0 : 1
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)))
