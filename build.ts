/**
 * Compiles the keyrack binary with `bun build --compile` (SPEC §2.1, §15).
 *
 *   bun run build.ts                every target below → dist/keyrack-<os>-<arch> + dist/SHA256SUMS
 *   bun run build.ts --single       this machine only  → dist/keyrack + dist/SHA256SUMS
 *   bun run build.ts --outdir DIR   write to DIR instead of dist/
 *
 * Why autoload is off: by default a Bun-compiled binary reads `.env` and `bunfig.toml` from its
 * cwd when it starts. keyrack runs inside repos it does not trust, so a repo could set
 * `KEYRACK_*` variables or `preload` code into the process that holds secrets (SPEC §10).
 * tests/acceptance/build.test.ts compiles a probe with these exact options to prove it.
 *
 * Cross-compiling: Bun downloads the other targets' runtime (`bun-<os>-<arch>-v<bun version>`,
 * cached in ~/.bun/install/cache). Offline, those targets fail with a message each; `--single`
 * compiles against the running Bun and never downloads anything.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

export interface Target {
  os: 'linux' | 'darwin'
  arch: 'x64' | 'arm64'
}

/** every release binary; install.sh maps `uname -s`/`uname -m` to these names */
export const TARGETS: readonly Target[] = [
  { os: 'linux', arch: 'x64' },
  { os: 'linux', arch: 'arm64' },
  { os: 'darwin', arch: 'x64' },
  { os: 'darwin', arch: 'arm64' },
]

export const ROOT = import.meta.dir
export const ENTRYPOINT = join(ROOT, 'src/cli/main.ts')
export const DEFAULT_OUTDIR = join(ROOT, 'dist')

export const bunTarget = (t: Target): Bun.Build.CompileTarget => `bun-${t.os}-${t.arch}`
export const assetName = (t: Target): string => `keyrack-${t.os}-${t.arch}`

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

export interface CompileOptions {
  outfile: string
  /** absent = the running Bun's own platform (no download) */
  target?: Bun.Build.CompileTarget
  entrypoint?: string
  version?: string
}

/** compiles one binary; throws BuildError with Bun's messages when it fails */
export async function compile(options: CompileOptions): Promise<string> {
  const label = options.target ?? 'host'
  let result: Bun.BuildOutput
  try {
    result = await Bun.build({
      entrypoints: [options.entrypoint ?? ENTRYPOINT],
      compile: {
        ...(options.target ? { target: options.target } : {}),
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
      define: { KEYRACK_VERSION: JSON.stringify(options.version ?? packageVersion()) },
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

/** builds every target it can; the checksums list only what was built */
export async function buildAll(options: { outdir?: string; entrypoint?: string } = {}): Promise<BuildAllResult> {
  const outdir = options.outdir ?? DEFAULT_OUTDIR
  mkdirSync(outdir, { recursive: true })
  const version = packageVersion()
  const result: BuildAllResult = { built: [], failed: [] }
  for (const target of TARGETS) {
    try {
      const outfile = join(outdir, assetName(target))
      await compile({ outfile, target: bunTarget(target), entrypoint: options.entrypoint, version })
      result.built.push(outfile)
    } catch (error) {
      result.failed.push({ target, message: error instanceof Error ? error.message : String(error) })
    }
  }
  if (result.built.length > 0) writeChecksums(outdir, result.built)
  return result
}

const USAGE = `usage: bun run build.ts [--single] [--outdir DIR]

  (no flags)     build ${TARGETS.map(assetName).join(', ')}
  --single       build only this machine's binary as DIR/keyrack (offline)
  --outdir DIR   output directory (default: dist/)
`

async function main(argv: string[]): Promise<number> {
  let values: { single?: boolean; outdir?: string; help?: boolean }
  try {
    values = parseArgs({
      args: argv,
      options: { single: { type: 'boolean' }, outdir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const outdir = values.outdir ? resolve(values.outdir) : DEFAULT_OUTDIR
  const version = packageVersion()

  if (values.single) {
    try {
      const outfile = await buildSingle({ outdir })
      console.log(`built ${outfile} (keyrack ${version}, ${process.platform}-${process.arch})`)
      return 0
    } catch (error) {
      console.error(`error: build failed: ${error instanceof Error ? error.message : String(error)}`)
      return 1
    }
  }

  const { built, failed } = await buildAll({ outdir })
  for (const file of built) console.log(`built ${file} (keyrack ${version})`)
  for (const { target, message } of failed) {
    console.error(
      `error: could not build ${assetName(target)}: ${message}\n` +
        `  cross-compiling ${bunTarget(target)} downloads that Bun runtime; check the network, ` +
        `or run \`bun run build.ts --single\` to build this machine's binary offline`,
    )
  }
  if (built.length > 0) console.log(`wrote ${join(outdir, 'SHA256SUMS')} (${built.length} of ${TARGETS.length} targets)`)
  return failed.length === 0 ? 0 : 1
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)))
