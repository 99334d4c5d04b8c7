/**
 * install.sh against a loopback release server (tests/fakes/release-server.ts) serving a release
 * folder built by build.ts (every target + SHA256SUMS), with the platform probes faked on PATH per
 * platform: `uname` (-s/-m), `sysctl -n sysctl.proc_translated` (Rosetta 2) and `ldd --version`
 * (musl or glibc). Checks that each platform gets its asset, byte for byte; that a tampered binary,
 * missing sums, an unlisted asset and a malformed sum are refused with nothing installed; and that a
 * second install changes nothing. Only linux-x64 (glibc) runs on this machine; for the other
 * platforms the installer verifies and installs the right file and then says it cannot start here.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { packageVersion, ROOT, sha256File } from '../../build.ts'
import { startReleaseServer, type ReleaseServer } from '../fakes/release-server.ts'
import { testRelease } from '../helpers/release.ts'

const version = packageVersion()
const tag = `v${version}`
const scratch = mkdtempSync(join(tmpdir(), 'keyrack-install-'))
let release: string
let server: ReleaseServer
/** a copy of the release whose binary was altered after SHA256SUMS was written */
let tampered: string
let noSums: string
let badSums: string

beforeAll(async () => {
  release = await testRelease()
  tampered = join(scratch, 'tampered')
  cpSync(release, tampered, { recursive: true })
  writeFileSync(join(tampered, 'keyrack-linux-x64'), 'echo pwned\n', { flag: 'a' })
  noSums = join(scratch, 'no-sums')
  mkdirSync(noSums)
  cpSync(join(release, 'keyrack-linux-x64'), join(noSums, 'keyrack-linux-x64'))
  badSums = join(scratch, 'bad-sums')
  mkdirSync(badSums)
  cpSync(join(release, 'keyrack-linux-x64'), join(badSums, 'keyrack-linux-x64'))
  writeFileSync(join(badSums, 'SHA256SUMS'), `not-a-sha  keyrack-linux-x64\n`)
  server = startReleaseServer({ releases: { [tag]: release, 'v9.9.8': tampered, 'v9.9.7': noSums, 'v9.9.6': badSums }, latest: tag })
}, 600_000)

afterAll(() => {
  server?.stop()
  rmSync(scratch, { recursive: true, force: true })
})

interface Platform {
  uname: [string, string]
  /** what `sysctl -n sysctl.proc_translated` prints (macOS); absent: sysctl knows no such key */
  translated?: '0' | '1'
  libc?: 'glibc' | 'musl'
}

/** a directory of fake probes that answer like the given platform */
function fakePlatform(name: string, p: Platform): string {
  const dir = join(scratch, `probes-${name}`)
  mkdirSync(dir, { recursive: true })
  const script = (file: string, body: string) => {
    writeFileSync(join(dir, file), `#!/bin/sh\n${body}\n`)
    chmodSync(join(dir, file), 0o755)
  }
  script('uname', `case "$1" in -s) echo ${p.uname[0]} ;; -m) echo ${p.uname[1]} ;; *) echo ${p.uname[0]} ;; esac`)
  script('sysctl', p.translated
    ? `[ "$1" = -n ] && [ "$2" = sysctl.proc_translated ] && { echo ${p.translated}; exit 0; }; exit 1`
    : 'echo "sysctl: unknown oid" >&2; exit 1')
  // musl's ldd prints its banner on stderr and exits 1; glibc's prints "ldd (GNU libc) …"
  script('ldd', p.libc === 'musl'
    ? 'echo "musl libc (x86_64)" >&2; echo "Version 1.2.5" >&2; exit 1'
    : 'echo "ldd (GNU libc) 2.36"; exit 0')
  return dir
}

async function install(probes: string, installDir: string, args: string[] = ['--version', tag]) {
  const home = join(scratch, 'home')
  mkdirSync(home, { recursive: true })
  // async: the release server answers from this same process
  const proc = Bun.spawn(['sh', join(ROOT, 'install.sh'), ...args], {
    cwd: scratch,
    env: { PATH: `${probes}:${process.env.PATH}`, HOME: home, KEYRACK_INSTALL_DIR: installDir, KEYRACK_RELEASE_URL: server.releasesUrl },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, stdout, stderr }
}

const downloads = () => server.requests.filter((r) => /\/keyrack-[a-z0-9-]+$/.test(r)).map((r) => r.split('/').pop())

describe('install.sh picks the asset for the platform', () => {
  const cases: [string, Platform, string][] = [
    ['linux x86_64 glibc', { uname: ['Linux', 'x86_64'], libc: 'glibc' }, 'keyrack-linux-x64'],
    ['linux aarch64 glibc', { uname: ['Linux', 'aarch64'], libc: 'glibc' }, 'keyrack-linux-arm64'],
    ['alpine x86_64 (musl)', { uname: ['Linux', 'x86_64'], libc: 'musl' }, 'keyrack-linux-x64-musl'],
    ['alpine aarch64 (musl)', { uname: ['Linux', 'aarch64'], libc: 'musl' }, 'keyrack-linux-arm64-musl'],
    ['macOS on Apple silicon', { uname: ['Darwin', 'arm64'], translated: '0' }, 'keyrack-darwin-arm64'],
    ['macOS on Apple silicon, x64 shell under Rosetta 2', { uname: ['Darwin', 'x86_64'], translated: '1' }, 'keyrack-darwin-arm64'],
    ['macOS on Intel', { uname: ['Darwin', 'x86_64'] }, 'keyrack-darwin-x64'],
  ]
  for (const [name, platform, asset] of cases) {
    test(`${name} → ${asset}`, async () => {
      const dir = join(scratch, `bin-${asset}-${platform.translated ?? 'n'}`)
      const before = downloads().length
      const r = await install(fakePlatform(name.replace(/\W+/g, '-'), platform), dir)
      expect(r.stdout).toContain(`verified SHA-256 of ${asset}`)
      expect(downloads().slice(before)).toEqual([asset])
      // the installed file is that asset, byte for byte, and executable
      expect(sha256File(join(dir, 'keyrack'))).toBe(sha256File(join(release, asset)))
      expect(statSync(join(dir, 'keyrack')).mode & 0o777).toBe(0o755)
      if (platform.translated === '1') expect(r.stdout).toContain('Rosetta 2 detected: installing the native arm64 binary')
      if (asset === 'keyrack-linux-x64') {
        // the one this machine can run: installed and reporting the release's version, commit and target
        expect(r.code).toBe(0)
        expect(r.stdout).toContain(`installed keyrack ${version} (commit testrelease0, linux-x64)`)
      } else {
        // the right file for that platform, which this Linux x64 host cannot start: said, not hidden
        expect(r.code).toBe(1)
        expect(r.stderr).toContain('but it does not start on this machine')
        if (asset.endsWith('-musl')) expect(r.stderr).toContain('apk add libstdc++ libgcc')
      }
    }, 60_000)
  }

  test('an unsupported OS is refused before anything is downloaded', async () => {
    const before = server.requests.length
    const r = await install(fakePlatform('freebsd', { uname: ['FreeBSD', 'amd64'] }), join(scratch, 'bin-freebsd'))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("unsupported OS 'FreeBSD'")
    expect(server.requests.length).toBe(before)
    expect(existsSync(join(scratch, 'bin-freebsd'))).toBe(false)
  })
})

describe('install.sh fails closed', () => {
  const linux = () => fakePlatform('linux', { uname: ['Linux', 'x86_64'], libc: 'glibc' })

  test('a tampered binary is refused and nothing is installed', async () => {
    const dir = join(scratch, 'bin-tampered')
    const r = await install(linux(), dir, ['--version', 'v9.9.8'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('SHA-256 mismatch for keyrack-linux-x64')
    expect(r.stderr).toContain('refusing to install')
    expect(existsSync(join(dir, 'keyrack'))).toBe(false)
  })

  test('a release without SHA256SUMS is refused before the binary is even downloaded', async () => {
    const dir = join(scratch, 'bin-nosums')
    const before = downloads().length
    const r = await install(linux(), dir, ['--version', 'v9.9.7'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('Failed to download SHA256SUMS')
    expect(r.stderr).toContain('refusing to install an unverified binary')
    expect(downloads().length).toBe(before)
    expect(existsSync(join(dir, 'keyrack'))).toBe(false)
  })

  test('a malformed sum is refused', async () => {
    const dir = join(scratch, 'bin-badsums')
    const r = await install(linux(), dir, ['--version', 'v9.9.6'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('SHA256SUMS has a malformed entry for keyrack-linux-x64')
    expect(existsSync(join(dir, 'keyrack'))).toBe(false)
  })

  test('an asset the sums do not list is refused (alpine on a release without musl builds)', async () => {
    const partial = join(scratch, 'partial')
    mkdirSync(partial, { recursive: true })
    cpSync(join(release, 'keyrack-linux-x64-musl'), join(partial, 'keyrack-linux-x64-musl'))
    writeFileSync(join(partial, 'SHA256SUMS'), readFileSync(join(release, 'SHA256SUMS'), 'utf8').split('\n').filter((l) => !l.endsWith('-musl')).join('\n'))
    const server2 = startReleaseServer({ releases: { v1: partial } })
    try {
      const dir = join(scratch, 'bin-unlisted')
      const proc = Bun.spawn(['sh', join(ROOT, 'install.sh'), '--version', 'v1'], {
        env: { PATH: `${fakePlatform('alpine', { uname: ['Linux', 'x86_64'], libc: 'musl' })}:${process.env.PATH}`, HOME: scratch, KEYRACK_INSTALL_DIR: dir, KEYRACK_RELEASE_URL: server2.releasesUrl },
        stdout: 'pipe',
        stderr: 'pipe',
      })
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited])
      expect(code).toBe(1)
      expect(stderr).toContain('SHA256SUMS does not list keyrack-linux-x64-musl')
      expect(existsSync(join(dir, 'keyrack'))).toBe(false)
    } finally {
      server2.stop()
    }
  })
})

describe('install.sh is idempotent', () => {
  test('a second install of the same release downloads no binary and leaves the file as it was', async () => {
    const probes = fakePlatform('linux-idem', { uname: ['Linux', 'x86_64'], libc: 'glibc' })
    const dir = join(scratch, 'bin-idem')
    const first = await install(probes, dir)
    expect(first.code).toBe(0)
    const stat = statSync(join(dir, 'keyrack'))
    const before = downloads().length
    const again = await install(probes, dir)
    expect(again.code).toBe(0)
    expect(again.stdout).toContain(`keyrack-linux-x64 ${tag} is already installed`)
    expect(downloads().length).toBe(before)
    const after = statSync(join(dir, 'keyrack'))
    expect([after.ino, after.mtimeMs]).toEqual([stat.ino, stat.mtimeMs])
    // the latest release (no --version) is the same one: also nothing to do
    const latest = await install(probes, dir, [])
    expect(latest.code).toBe(0)
    expect(latest.stdout).toContain('is already installed')
  }, 60_000)
})
