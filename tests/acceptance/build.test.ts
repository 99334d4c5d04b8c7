/**
 * The compiled binary and install.sh (SPEC §2.1, §2.4, §10, §15).
 *
 * - dist/keyrack (built by `npm test` before `bun test`; built here if missing) prints the
 *   package.json version;
 * - a hostile worksite's `bunfig.toml` (a preload) and `.env` (KEYRACK_OWNER, KEYRACK_HOME) do
 *   nothing to the compiled binary — while plain `bun` in the same directory does run them, so
 *   the hostile files are real;
 * - `install.sh --from-source` builds and installs a working binary without touching rc files;
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildSingle, compile, packageVersion, ROOT } from '../../build.ts'

const version = packageVersion()
const binary = join(ROOT, 'dist', 'keyrack')
const scratch = mkdtempSync(join(tmpdir(), 'keyrack-build-'))
const home = join(scratch, 'home')
mkdirSync(home)
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

beforeAll(async () => {
  if (!existsSync(binary)) await buildSingle()
}, 120_000)

/** a minimal environment: nothing KEYRACK_* leaks in from the test runner */
const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, NO_COLOR: '1' })

function run(cmd: string[], options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}) {
  const r = Bun.spawnSync(cmd, {
    cwd: options.cwd ?? scratch,
    env: options.env ?? baseEnv(),
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    timeout: options.timeout ?? 15_000,
  })
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
}

/** `0.1.0 (commit 1a2b3c4d5e6f, linux-x64)`: version first, then the commit and target it was built from */
const VERSION_LINE = new RegExp(`^${version.replace(/\./g, '\\.')} \\(commit ([0-9a-f]{12}(\\+dirty)?|unknown), (linux|darwin)-(x64|arm64)(-musl)?\\)$`)

test('dist/keyrack --version prints the package.json version, the commit and the target', () => {
  expect(statSync(binary).mode & 0o111).not.toBe(0)
  const r = run([binary, '--version'])
  expect(r.code).toBe(0)
  expect(r.stdout.trim()).toMatch(VERSION_LINE)
  const head = Bun.spawnSync(['git', 'rev-parse', 'HEAD'], { cwd: ROOT }).stdout.toString().trim()
  if (head) expect(r.stdout).toContain(`commit ${head.slice(0, 12)}`)
  expect(r.stdout).toContain(`${process.platform}-${process.arch}`)
})

describe('a hostile worksite (bunfig.toml preload, .env)', () => {
  const worksite = join(scratch, 'worksite')
  const marker = join(scratch, 'preload-ran')
  const evilHome = join(scratch, 'keyrack-evil-home')
  const probeSource = join(scratch, 'probe-src', 'probe.ts')

  beforeAll(() => {
    mkdirSync(worksite)
    if (Bun.which('git')) expect(run(['git', 'init', '-q'], { cwd: worksite }).code).toBe(0)
    else mkdirSync(join(worksite, '.git'))
    writeFileSync(
      join(worksite, 'evil.ts'),
      `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(marker)}, 'preloaded')\nconsole.log('EVIL PRELOAD')\n`,
    )
    writeFileSync(join(worksite, 'bunfig.toml'), 'preload = ["./evil.ts"]\n')
    writeFileSync(join(worksite, '.env'), `KEYRACK_OWNER=evilowner\nKEYRACK_HOME=${evilHome}\n`)
    // prints what a process started in the worksite sees
    mkdirSync(join(scratch, 'probe-src'))
    writeFileSync(
      probeSource,
      'console.log(JSON.stringify({ owner: process.env.KEYRACK_OWNER ?? null, home: process.env.KEYRACK_HOME ?? null }))\n',
    )
    copyFileSync(probeSource, join(worksite, 'probe.ts'))
  })

  test('plain bun in that directory runs the preload and loads the .env (the files are real)', () => {
    const r = run([process.execPath, 'run', 'probe.ts'], { cwd: worksite })
    expect(r.code).toBe(0)
    expect(existsSync(marker)).toBe(true)
    expect(r.stdout).toContain('EVIL PRELOAD')
    expect(r.stdout).toContain(JSON.stringify({ owner: 'evilowner', home: evilHome }))
    rmSync(marker)
  })

  test("a probe compiled with build.ts's options sees neither", async () => {
    const probe = await compile({ entrypoint: probeSource, outfile: join(scratch, 'probe-bin'), version })
    const r = run([probe], { cwd: worksite })
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(JSON.stringify({ owner: null, home: null }))
    expect(existsSync(marker)).toBe(false)
  }, 60_000)

  test('dist/keyrack is unaffected by them', () => {
    const version_ = run([binary, '--version'], { cwd: worksite })
    expect(version_.code).toBe(0)
    expect(version_.stdout.trim()).toMatch(VERSION_LINE)
    // later commands too (`list` names the owner and KEYRACK_HOME it uses, and may create it):
    // whatever they do, nothing from the worksite may reach them
    for (const argv of [['--version'], ['--help'], ['list'], ['status']]) {
      const r = run([binary, ...argv], { cwd: worksite })
      const output = r.stdout + r.stderr
      expect(output).not.toContain('EVIL PRELOAD')
      expect(output).not.toContain('evilowner')
      expect(output).not.toContain(evilHome)
    }
    expect(existsSync(marker)).toBe(false)
    expect(existsSync(evilHome)).toBe(false)
  })
})

describe('install.sh', () => {
  test('--from-source builds a checkout and installs a working binary, printing the PATH line only', () => {
    // a throwaway checkout (sharing node_modules) so the build never rewrites the dist/keyrack
    // that other tests run
    const checkout = join(scratch, 'checkout')
    mkdirSync(checkout)
    for (const name of ['src', 'build.ts', 'install.sh', 'package.json', 'tsconfig.json', 'bunfig.toml']) {
      cpSync(join(ROOT, name), join(checkout, name), { recursive: true })
    }
    symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'))
    const installDir = join(scratch, 'from-source-bin')

    const r = run(['sh', join(checkout, 'install.sh'), '--from-source'], {
      cwd: checkout,
      env: { ...baseEnv(), KEYRACK_INSTALL_DIR: installDir },
      timeout: 110_000,
    })
    if (r.code !== 0) throw new Error(`install.sh --from-source exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
    const installed = join(installDir, 'keyrack')
    expect(statSync(installed).mode & 0o777).toBe(0o755)
    expect(r.stdout).toContain(`installed keyrack ${version}`)
    expect(r.stdout).toContain(`export PATH="${installDir}:$PATH"`)
    for (const rc of ['.profile', '.bashrc', '.bash_profile', '.zshrc', '.zshenv', '.config/fish/config.fish']) {
      expect(existsSync(join(home, rc))).toBe(false) // rc files are never edited
    }

    const v = run([installed, '--version'])
    expect(v.code).toBe(0)
    expect(v.stdout.trim()).toMatch(VERSION_LINE)
  }, 120_000)
  // download mode (the release assets, checksums, platforms): tests/acceptance/install.test.ts
})
