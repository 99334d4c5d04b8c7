/**
 * doctor: checks the environment keyrack depends on and says what to fix (SPEC §13).
 * Read-only: it creates nothing and never decrypts anything.
 */
import { existsSync, lstatSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { paths, type Context } from '../context.ts'
import { KeyrackError } from '../domain/errors.ts'
import { readOwnerConfig } from '../identity/owner-identity.ts'
import { readInventory } from '../manifests/inventory.ts'
import { readRepoManifest } from '../manifests/repo.ts'
import { findWorksite, repoManifestPath } from '../manifests/worksite.ts'
import { runtimeName } from '../runtime/self.ts'
import { findOnPath } from '../runtime/spawn.ts'
import { daemonSocketPath } from '../daemon/owner.ts'

export type CheckLevel = 'ok' | 'warn' | 'fail' | 'info'
export interface DoctorCheck {
  name: string
  level: CheckLevel
  detail: string
  /** the exact command (or step) that fixes it */
  fix?: string
}

export interface DoctorOptions {
  /** the running keyrack's version ('sdk' when used as a library) */
  version: string
  /** ask the releases API for the latest release (the only network call doctor makes) */
  checkUpdates?: boolean
}

export async function doctor(ctx: Context, meta: DoctorOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = []
  checks.push({ name: 'keyrack', level: 'info', detail: `${meta.version} on ${runtimeName()} (${process.platform}-${process.arch})` })
  checks.push(await updateCheck(ctx, meta))

  if (!existsSync(ctx.home)) checks.push({ name: 'home', level: 'warn', detail: `${ctx.home} does not exist yet`, fix: 'keyrack init' })
  else {
    const stat = lstatSync(ctx.home)
    if (!stat.isDirectory()) checks.push({ name: 'home', level: 'fail', detail: `${ctx.home} is not a directory`, fix: `mv ${ctx.home} ${ctx.home}.bak && keyrack init` })
    else if ((stat.mode & 0o077) !== 0) checks.push({ name: 'home', level: 'fail', detail: `${ctx.home} is readable by others (mode ${(stat.mode & 0o777).toString(8)})`, fix: `chmod 700 ${ctx.home}` })
    else checks.push({ name: 'home', level: 'ok', detail: `${ctx.home} (0700)` })
  }

  try {
    const config = readOwnerConfig(ctx)
    const protectedText = config.passphrase ? 'passphrase-protected' : 'UNPROTECTED (unattended machine)'
    checks.push({ name: 'owner', level: config.passphrase ? 'ok' : 'warn', detail: `'${ctx.owner}': ${config.via} identity, ${protectedText}` })
    if (!existsSync(paths.hostManifest(ctx))) checks.push({ name: 'host manifest', level: 'fail', detail: `${paths.hostManifest(ctx)} is missing`, fix: 'restore it from a backup' })
    else checks.push({ name: 'host manifest', level: 'ok', detail: paths.hostManifest(ctx) })
  } catch (error) {
    checks.push({ name: 'owner', level: 'warn', detail: error instanceof KeyrackError ? error.message : 'unreadable', fix: error instanceof KeyrackError ? error.hint[0] : undefined })
  }

  try {
    const socketPath = daemonSocketPath(ctx)
    const dir = dirname(socketPath)
    if (existsSync(dir)) {
      const { verifySocketDir } = await import('../daemon/paths.ts')
      verifySocketDir(dir, process.getuid?.() ?? -1)
    }
    const { status } = await import('./status.ts')
    const s = await status(ctx)
    checks.push({ name: 'daemon', level: 'ok', detail: s.running ? `up (pid ${s.pid}, ${s.grants.length} unlocked) at ${socketPath}` : `down; socket would be ${socketPath}` })
  } catch (error) {
    checks.push({ name: 'daemon', level: 'fail', detail: error instanceof KeyrackError ? error.message : 'socket directory check failed', fix: error instanceof KeyrackError ? error.hint[0] : undefined })
  }

  if (process.versions.bun) {
    const { hardenProcess } = await import('../daemon/harden.ts')
    const hardening = hardenProcess()
    const hardened = process.platform === 'darwin' ? hardening.denyAttach : hardening.nonDumpable
    checks.push({ name: 'hardening', level: hardened && hardening.coreDumpsDisabled ? 'ok' : 'warn', detail: `core dumps off: ${hardening.coreDumpsDisabled}, non-dumpable/deny-attach: ${hardened}` })
  } else {
    // prctl/setrlimit go through bun:ffi; the daemon (always Bun) hardens itself when it starts
    checks.push({ name: 'hardening', level: 'info', detail: `not checked on ${runtimeName()}: it needs Bun (bun:ffi); the daemon runs on Bun and hardens itself` })
  }

  if (process.platform === 'linux') {
    let session = 'unknown'
    try {
      session = readFileSync('/proc/self/sessionid', 'utf8').trim()
    } catch {}
    checks.push(session === '4294967295' || session === 'unknown'
      ? { name: 'login session', level: 'warn', detail: 'no audit login session: the daemon cannot exit at logout (it still exits at TTL, relock and XDG_RUNTIME_DIR removal)' }
      : { name: 'login session', level: 'ok', detail: `audit session ${session}` })
  }

  // age is not a vault's tool: it is how a user opens keyrack's files by hand
  const age = findOnPath('age', ctx.env.PATH)
  checks.push(age ? { name: 'age', level: 'ok', detail: `${age} (interop and manual recovery of encrypted files)` } : { name: 'age', level: 'info', detail: 'not found: needed only to open keyrack files by hand', fix: 'apt-get install age  # or: brew install age' })
  // every vault says whether it can work here; a missing tool or service matters only to who
  // uses that vault: a warning when the owner keeps keys there (the value-free inventory says)
  const inUse = readInventory(ctx)?.vaults ?? new Set<string>()
  for (const vault of await ctx.vaults.loadAll()) {
    const availability = await vault.isAvailable(ctx)
    if (availability.available) checks.push({ name: vault.id, level: 'ok', detail: availability.detail ?? vault.description })
    else
      checks.push({
        name: vault.id,
        level: !vault.tool ? 'fail' : inUse.has(vault.id) ? 'warn' : 'info',
        detail: availability.reason,
        ...(availability.hint.length > 0 ? { fix: availability.hint.join('; ') } : {}),
      })
  }

  try {
    const worksite = findWorksite(ctx.cwd, ctx.env)
    if (worksite && existsSync(repoManifestPath(worksite))) {
      const manifest = readRepoManifest(worksite, ctx.env)
      checks.push({ name: 'repo manifest', level: manifest.warnings.length > 0 ? 'warn' : 'ok', detail: `${manifest.file}: org ${manifest.org}, envs ${[...manifest.envs.keys()].join(', ')}${manifest.warnings.length > 0 ? `; ${manifest.warnings.join('; ')}` : ''}` })
    } else if (worksite) checks.push({ name: 'repo manifest', level: 'info', detail: `${worksite} has no .agent/keyrack.yml`, fix: 'keyrack init --repo' })
  } catch (error) {
    // a repo owned by another user, or a manifest keyrack refuses: say why and how to fix it
    if (!(error instanceof KeyrackError)) throw error
    checks.push({ name: 'repo manifest', level: 'fail', detail: error.message.split('\n')[0]!, fix: error.hint[0] ?? 'fix the file as the error says' })
  }
  return checks
}

async function updateCheck(ctx: Context, meta: DoctorOptions): Promise<DoctorCheck> {
  const { compareVersions, fetchLatestRelease, INSTALL_COMMAND, readReleaseCheck } = await import('./release-check.ts')
  let known = readReleaseCheck(ctx)
  if (meta.checkUpdates) {
    try {
      known = await fetchLatestRelease(ctx)
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'unknown error'
      return { name: 'update', level: 'warn', detail: `could not check for a newer release: ${reason}`, fix: 'check the network (or $GITHUB_API_URL), then: keyrack doctor --check-updates' }
    }
  }
  if (!known) return { name: 'update', level: 'info', detail: 'not checked (doctor makes no network call unless asked)', fix: 'keyrack doctor --check-updates' }
  const when = known.checkedAt.slice(0, 10)
  if (!/^\d+\.\d+\.\d+/.test(meta.version)) return { name: 'update', level: 'info', detail: `latest release ${known.latest} (checked ${when})` }
  if (compareVersions(known.latest, meta.version) > 0)
    return { name: 'update', level: 'warn', detail: `a newer release is known: ${known.latest} (this is ${meta.version}; checked ${when})`, fix: INSTALL_COMMAND }
  return { name: 'update', level: 'ok', detail: `${meta.version} is the latest release (checked ${when})` }
}
