/**
 * The scratch machine the doc tests run README blocks on: a HOME with `keyrack` in
 * `~/.local/bin` (as install.sh puts it), a git repo at `~/code/my-repo` (remote
 * `git@github.com:ehmpathy/my-repo.git`, a package.json whose `npm test` needs XAI_API_KEY), a
 * private runtime dir for the daemon, and named fixtures that put the machine in a state (an
 * initialized owner, the README's manifest, keys set, keys unlocked…).
 *
 * Fixtures are built once and snapshotted (the sandbox always lives at the same path, so the
 * absolute paths keyrack writes stay valid), then restored for each block in a few ms.
 * Add a fixture to FIXTURES to give README sections new starting states (fake-op, fake-aws…).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { chmodSync, closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { awsEndpointEnv } from '../fakes/aws-server.ts'
import { FAKE_OP_PASSWORD, installFakeOp } from '../fakes/op.ts'
import { BIN, daemonPidsUnder } from '../helpers/harness.ts'
import { startSecretServiceDetached } from '../helpers/secret-service.ts'
import type { Command, DocBlock } from './markdown.ts'
import { installFakeGh } from '../fakes/gh.ts'

/** the passphrase the simulated human types for every identity and ssh key */
export const PASSPHRASE = 'correct horse battery staple'
/** what the simulated human types at `secret for KEY (input hidden):` */
export const typedSecret = (key: string): string => `doctest-typed-${key}`

const TERMINAL = resolve(import.meta.dir, 'terminal.py')
/** the README's IAM Identity Center: its access portal, sso-session and profile */
export const AWS_START_URL = 'https://acme.awsapps.com/start'
const AWS_CONFIG = `[sso-session acme]\nsso_start_url = ${AWS_START_URL}\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n\n[profile acme.test.admin]\nsso_session = acme\nsso_account_id = 111111111111\nsso_role_name = AdministratorAccess\nregion = us-east-1\n`

export interface Fixture {
  /** what the state is, for docs/contributing.md and failure messages */
  about: string
  /** puts the sandbox in this state (runs after the fixtures listed before it) */
  apply(box: DocSandbox): void
  /** false for live state (a running daemon), which is re-applied for every block, never snapshotted */
  snapshot?: boolean
}

export interface LineResult {
  command: Command
  code: number | null
}

export interface BlockRun {
  lines: LineResult[]
  transcript: string
  /** false when the block did not finish in time */
  finished: boolean
}

export class DocSandbox {
  readonly base = mkdtempSync(join(tmpdir(), 'kr-doc-'))
  readonly root = join(this.base, 'box')
  readonly home = join(this.root, 'home')
  readonly repo = join(this.home, 'code', 'my-repo')
  readonly runtimeDir = join(this.root, 'run')
  /** the README's repo manifest (the block marked `<!-- doctest: repo-manifest -->`) */
  repoManifest = ''
  private readonly snapshots = new Map<string, string>()
  private readonly passphraseFile = join(this.base, 'passphrase')
  /** the loopback AWS fake (tests/fakes/aws-process.ts), once a block needed it; lives as long as the sandbox */
  private awsFake?: { url: string; stop(): void }
  /** the Secret Service of the `secret-service` fixture, while one runs */
  private secretService: { stop(): void } | undefined
  /** variables a live fixture sets for every block after it (e.g. GITHUB_API_URL of a fake GitHub) */
  readonly liveEnv: Record<string, string> = {}
  /** what cleanup() must stop besides daemons (a fake service's process) */
  readonly stops: (() => void)[] = []

  constructor() {
    writeFileSync(this.passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 })
  }

  /** the environment of the user's shell: HOME, ~/.local/bin on PATH, nothing of the test runner's */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: `${join(this.home, '.local', 'bin')}:${process.env.PATH}`,
      HOME: this.home,
      USER: process.env.USER ?? 'root',
      LANG: 'C.UTF-8',
      TERM: 'xterm',
      NO_COLOR: '1',
      XDG_RUNTIME_DIR: this.runtimeDir,
      TMPDIR: join(this.root, 'tmp'),
      // a temporary STS key (fine for the firewall): the README manifest's AWS_PROFILE is
      // `is-optional-if-has: AWS_ACCESS_KEY_ID`, so blocks that do not set one up still run
      AWS_ACCESS_KEY_ID: 'ASIAZDOCTESTZ7EXAMPLE',
      // once the AWS fake runs: the SDKs' and the CLI's standard endpoint settings point at it
      ...(this.awsFake ? awsEndpointEnv(this.awsFake.url) : {}),
      ...this.liveEnv,
      ...extra,
    }
  }

  /** keyrack itself, for fixtures: the passphrase on fd 3, never typed */
  keyrack(args: string[], input = ''): SpawnSyncReturns<string> {
    const fd = openSync(this.passphraseFile, 'r')
    try {
      const r = spawnSync(BIN, args, { cwd: this.repo, env: this.env(), input, encoding: 'utf8', timeout: 60_000, stdio: ['pipe', 'pipe', 'pipe', fd] })
      if (r.status !== 0) throw new Error(`fixture: keyrack ${args.join(' ')} exited ${r.status}:\n${r.stderr}`)
      return r
    } finally {
      closeSync(fd)
    }
  }

  /** a shell command for fixtures (not pasted by a user): must succeed */
  sh(script: string): string {
    const r = spawnSync('bash', ['-c', script], { cwd: this.repo, env: this.env({ DOCTEST_PASSPHRASE: PASSPHRASE }), encoding: 'utf8', timeout: 60_000 })
    if (r.status !== 0) throw new Error(`fixture: \`${script}\` exited ${r.status}:\n${r.stdout}${r.stderr}`)
    return r.stdout
  }

  /** a Secret Service on the user's standard bus address ($XDG_RUNTIME_DIR/bus), as a desktop session has */
  startSecretService(): void {
    this.secretService = startSecretServiceDetached({ dir: join(this.base, 'secret-service'), home: this.home, runtimeDir: this.runtimeDir })
  }

  /** stops every daemon this sandbox started */
  stopDaemons(): void {
    this.secretService?.stop()
    this.secretService = undefined
    const dir = join(this.runtimeDir, 'keyrack')
    if (existsSync(dir))
      for (const entry of readdirSync(dir).filter((e) => e.endsWith('.sock')))
        spawnSync(BIN, ['relock', '--owner', entry.slice(0, -5)], { env: this.env(), timeout: 10_000 })
    for (const pid of daemonPidsUnder(this.base))
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
  }

  /** a new machine: the empty home, the repo, keyrack on PATH */
  private fresh(): void {
    rmSync(this.root, { recursive: true, force: true })
    mkdirSync(this.repo, { recursive: true })
    mkdirSync(join(this.root, 'tmp'), { recursive: true })
    mkdirSync(this.runtimeDir, { recursive: true, mode: 0o700 })
    chmodSync(this.runtimeDir, 0o700)
    mkdirSync(join(this.home, '.local', 'bin'), { recursive: true })
    mkdirSync(join(this.home, '.ssh'), { mode: 0o700 })
    symlinkSync(BIN, join(this.home, '.local', 'bin', 'keyrack'))
    const git = (...args: string[]) => spawnSync('git', args, { cwd: this.repo, env: this.env() })
    git('init', '-q')
    git('remote', 'add', 'origin', 'git@github.com:ehmpathy/my-repo.git')
    // `npm test` of the README: passes only when keyrack gave it the key
    writeFileSync(join(this.repo, 'package.json'), `${JSON.stringify({ name: 'my-repo', private: true, scripts: { test: "node -e \"if (!process.env.XAI_API_KEY) { console.error('XAI_API_KEY is missing'); process.exit(1) } console.log('tests pass with XAI_API_KEY')\"" } }, null, 2)}\n`)
  }

  /** puts the sandbox in the state the fixtures name, in order (from a snapshot when there is one) */
  reset(fixtures: string[]): void {
    this.stopDaemons()
    const unknown = fixtures.filter((f) => !FIXTURES[f])
    if (unknown.length) throw new Error(`unknown doctest fixture(s): ${unknown.join(', ')} (known: ${Object.keys(FIXTURES).join(', ')})`)
    const stored = fixtures.filter((f) => FIXTURES[f]!.snapshot !== false)
    const live = fixtures.filter((f) => FIXTURES[f]!.snapshot === false)
    // start from the longest list of fixtures already built, apply the rest, keep each new state
    let done = stored.length
    while (done > 0 && !this.snapshots.has(stored.slice(0, done).join('+'))) done--
    if (done > 0) this.restore(this.snapshots.get(stored.slice(0, done).join('+'))!)
    else this.fresh()
    for (let i = done; i < stored.length; i++) {
      FIXTURES[stored[i]!]!.apply(this)
      const to = join(this.base, `snapshot-${this.snapshots.size}`)
      cpSync(this.root, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
      this.snapshots.set(stored.slice(0, i + 1).join('+'), to)
    }
    for (const f of live) FIXTURES[f]!.apply(this)
  }

  private restore(snapshot: string): void {
    rmSync(this.root, { recursive: true, force: true })
    cpSync(snapshot, this.root, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
  }

  /**
   * Runs a block's commands in one shell on a terminal, a simulated human answering prompts,
   * and returns each command's exit status. `extraEnv` are variables the prose assumes set.
   */
  runBlock(shell: string, commands: Command[], extraEnv: Record<string, string>, timeoutSeconds = 90): BlockRun {
    const statusFile = join(this.base, 'status')
    rmSync(statusFile, { force: true })
    // after each command, its status goes to a file: `$?` (fish: `$status`) of the command as written
    const status = shell === 'fish' ? '$status' : '"$?"'
    const script = commands.map((c, i) => `${c.text}\nprintf '%s %s\\n' ${i} ${status} >> ${JSON.stringify(statusFile)}`).join('\n')
    const scriptFile = join(this.base, `block.${shell}`)
    writeFileSync(scriptFile, `${script}\n`)
    const argv = shell === 'zsh' ? ['zsh', '-f', scriptFile] : shell === 'fish' ? ['fish', '--no-config', scriptFile] : ['bash', '--noprofile', '--norc', scriptFile]
    const spec = {
      argv,
      cwd: this.repo,
      env: this.env(extraEnv),
      timeout: timeoutSeconds,
      columns: 100,
      answers: [
        { prompt: 'passphrase[^\\n]*:', send: `${PASSPHRASE}\r` },
        // the secret typed is `doctest-typed-<KEY>` (typedSecret), the key taken from the prompt
        { prompt: 'secret for ([A-Z_][A-Z0-9_]*) \\(input hidden\\):', send: 'doctest-typed-\\1\r' },
        // ssh-keygen proposes the passwd entry's home, not $HOME: answer with the sandbox's own path
        { prompt: 'Enter file in which to save the key[^\\n]*:', send: `${join(this.home, '.ssh', 'id_ed25519')}\r` },
        { prompt: 'Overwrite \\(y/n\\)\\?', send: 'n\r' },
        // the fake op's sign-in (fixture fake-op): the account password, typed into op itself
        { prompt: 'Enter the password for [^\\n]*:', send: `${FAKE_OP_PASSWORD}\r` },
        // a guided GitHub App set (fake-github): the README's app, its installation, its key file
        { prompt: "the GitHub App's id[^\\n]*:", send: '4242\r' },
        { prompt: 'the installation: [^\\n]*:', send: 'acme/widgets\r' },
        { prompt: "the path to the app's private key[^\\n]*:", send: 'app.private-key.pem\r' },
      ],
    }
    const r = spawnSync('python3', [TERMINAL, JSON.stringify(spec)], { encoding: 'utf8', timeout: (timeoutSeconds + 15) * 1000, maxBuffer: 64 * 1024 * 1024 })
    if (r.status !== 0) throw new Error(`the terminal driver failed: ${r.stderr}`)
    const result = JSON.parse(r.stdout) as { code: number | null; out: string }
    const statuses = new Map<number, number>()
    if (existsSync(statusFile))
      for (const line of readFileSync(statusFile, 'utf8').split('\n').filter(Boolean)) {
        const [i, code] = line.split(' ').map(Number)
        statuses.set(i!, code!)
      }
    return { lines: commands.map((command, i) => ({ command, code: statuses.get(i) ?? null })), transcript: result.out, finished: result.code !== null }
  }

  /**
   * Starts the AWS fake in a process of its own (blocks run with spawnSync, which would stall a
   * server in this one), once per sandbox: the snapshots' token caches stay valid against it.
   */
  startAwsFake(): void {
    if (this.awsFake) return
    const head = join(this.base, 'aws-fake.json')
    const proc = Bun.spawn([process.execPath, resolve(import.meta.dir, '..', 'fakes', 'aws-process.ts'), JSON.stringify({ startUrl: AWS_START_URL })], {
      stdin: 'pipe',
      stdout: Bun.file(head),
      stderr: 'inherit',
    })
    const stop = () => {
      ;(proc.stdin as import('bun').FileSink).end()
      proc.kill()
    }
    const deadline = Date.now() + 30_000
    while (!(existsSync(head) && readFileSync(head, 'utf8').includes('\n'))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        stop()
        throw new Error('fixture: the AWS fake did not start')
      }
      Bun.sleepSync(20)
    }
    this.awsFake = { url: (JSON.parse(readFileSync(head, 'utf8').split('\n')[0]!) as { url: string }).url, stop }
  }

  cleanup(): void {
    this.stopDaemons()
    this.awsFake?.stop()
    for (const stop of this.stops.splice(0)) stop()
    rmSync(this.base, { recursive: true, force: true })
  }
}

/**
 * Lowers the scrypt work factor of an owner's passphrase-protected identity file, so the doc
 * tests (which open it dozens of times) are not minutes of key stretching. keyrack reads any
 * valid age scrypt file; this only changes how slow a guess is, which a scratch machine does not need.
 */
async function cheapenIdentity(box: DocSandbox, owner: string): Promise<void> {
  const { Decrypter, Encrypter } = await import('age-encryption')
  const file = join(box.home, '.rhachet', 'keyrack', `identity.${owner}.age`)
  const decrypter = new Decrypter()
  decrypter.addPassphrase(PASSPHRASE)
  const plaintext = await decrypter.decrypt(readFileSync(file))
  const encrypter = new Encrypter()
  encrypter.setPassphrase(PASSPHRASE)
  encrypter.setScryptWorkFactor(12)
  writeFileSync(file, await encrypter.encrypt(plaintext), { mode: 0o600 })
}
/** fixtures run synchronously; the one async step runs in a child bun process */
function cheapen(box: DocSandbox, owner: string): void {
  const r = spawnSync(process.execPath, ['-e', `import(${JSON.stringify(import.meta.path)}).then((m) => m.cheapenIdentityOf(${JSON.stringify(box.home)}, ${JSON.stringify(owner)}))`], { encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`fixture: cheapening the identity failed: ${r.stderr}`)
}
export const cheapenIdentityOf = (home: string, owner: string): Promise<void> => cheapenIdentity({ home } as DocSandbox, owner)

/** the secrets the `keys` fixture stores (never long-lived shapes: the firewall passes them) */
export const FIXTURE_SECRETS: Record<string, [env: string, secret: string]> = {
  XAI_API_KEY: ['all', 'doctest-fixture-xai'],
  LEGACY_TOKEN: ['test', 'doctest-fixture-legacy'],
  AWS_ADMIN: ['sudo', 'doctest-fixture-aws-admin'],
}

/** the secret the fake-op fixture's own 1Password item holds */
export const FAKE_OP_XAI = 'doctest-1password-xai'

export const FIXTURES: Record<string, Fixture> = {
  'new-machine': { about: 'nothing but keyrack on PATH and the repo ~/code/my-repo (no keyrack home, no manifest)', apply: () => {} },
  manifest: {
    about: "the README's repo manifest in ~/code/my-repo/.agent/keyrack.yml (and the file it extends)",
    apply: (box) => {
      mkdirSync(join(box.repo, '.agent', 'repo=.this', 'role=test'), { recursive: true })
      writeFileSync(join(box.repo, '.agent', 'keyrack.yml'), box.repoManifest)
      writeFileSync(join(box.repo, '.agent', 'repo=.this', 'role=test', 'keyrack.yml'), 'env.test: []\n')
    },
  },
  human: {
    about: 'owner human initialized with an age identity protected by the passphrase the simulated human types',
    apply: (box) => {
      box.keyrack(['init', '--passphrase-fd', '3'])
      cheapen(box, 'human')
    },
  },
  keys: {
    about: `human's keys in os.secure: ${Object.entries(FIXTURE_SECRETS).map(([k, [e]]) => `${k} (env ${e})`).join(', ')}`,
    apply: (box) => {
      for (const [key, [env, secret]] of Object.entries(FIXTURE_SECRETS))
        box.keyrack(['set', '--key', key, '--env', env, '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], secret)
    },
  },
  seaturtle: { about: 'owner seaturtle initialized without a passphrase (a robot)', apply: (box) => void box.keyrack(['init', '--owner', 'seaturtle', '--no-passphrase']) },
  'ssh-key': {
    about: '~/.ssh/id_ed25519(.pub), an ed25519 key protected by the passphrase',
    apply: (box) => void box.sh(`mkdir -p ~/.ssh && chmod 700 ~/.ssh && ssh-keygen -q -t ed25519 -N "$DOCTEST_PASSPHRASE" -C me@laptop -f ~/.ssh/id_ed25519`),
  },
  'backup-key': { about: 'backup.txt in the repo: an age identity (age-keygen)', apply: (box) => void box.sh('age-keygen -o backup.txt 2>/dev/null') },
  'backup-recipient': {
    about: "backup.txt's public key added as a backup recipient of human (needs backup-key)",
    apply: (box) => void box.keyrack(['recipients', 'add', box.sh('age-keygen -y backup.txt').trim(), '--passphrase-fd', '3']),
  },
  'passphrase-file': { about: '~/.config/keyrack-passphrase holds the passphrase (0600)', apply: (box) => void box.sh('mkdir -p ~/.config && (umask 077 && printf "%s\\n" "$DOCTEST_PASSPHRASE" > ~/.config/keyrack-passphrase)') },
  'fake-aws': {
    about: `the AWS fake (IAM Identity Center at ${AWS_START_URL}, STS, SSM) on loopback through AWS_ENDPOINT_URL_*, a fake \`aws\` in ~/.local/bin, and ~/.aws/config with [sso-session acme] and [profile acme.test.admin] (not signed in)`,
    apply: (box) => {
      box.startAwsFake()
      writeFileSync(join(box.home, '.local', 'bin', 'aws'), `#!/bin/sh\nexec '${process.execPath}' '${resolve(import.meta.dir, '..', 'fakes', 'aws-cli.ts')}' "$@"\n`, { mode: 0o755 })
      mkdirSync(join(box.home, '.aws'), { recursive: true, mode: 0o700 })
      writeFileSync(join(box.home, '.aws', 'config'), AWS_CONFIG, { mode: 0o600 })
    },
  },
  'aws-profile': {
    about: "human's AWS_PROFILE (env test) set to the SSO profile acme.test.admin (aws.config, EPHEMERAL_VIA_AWS_SSO), signed in (needs fake-aws)",
    apply: (box) =>
      void box.keyrack(['set', '--key', 'AWS_PROFILE', '--env', 'test', '--vault', 'aws.config', '--mech', 'EPHEMERAL_VIA_AWS_SSO', '--exid', 'acme.test.admin', '--passphrase-fd', '3']),
  },
  'secret-service': {
    about: 'a Secret Service (gnome-keyring, its login keyring open) on the session bus at $XDG_RUNTIME_DIR/bus, as in a desktop session (live: started for each block)',
    snapshot: false,
    apply: (box) => box.startSecretService(),
  },
  'fake-op': {
    about: `a fake 1Password CLI \`op\` (tests/fakes/op.ts) in ~/.local/bin, signed out (the simulated human types the account password at op's prompt); its item op://Private/xai/credential holds "${FAKE_OP_XAI}"`,
    apply: (box) => void installFakeOp(join(box.home, '.local')).addItem({ vault: 'Private', title: 'xai', fields: { credential: FAKE_OP_XAI } }),
  },
  'fake-gh': {
    about: 'a fake `gh` (tests/fakes/gh.ts) in ~/.local/bin, signed in, that keeps Actions secrets for any repository',
    apply: (box) => {
      const { binDir } = installFakeGh(join(box.root, 'fake-gh'))
      symlinkSync(join(binDir, 'gh'), join(box.home, '.local', 'bin', 'gh'))
    },
  },
  'fake-github': {
    about:
      "the README's GitHub App: a loopback GitHub (tests/fakes/github-api.ts, its own process) with app 4242 on acme/widgets, GITHUB_API_URL pointing at it, the app's key in ~/code/my-repo/app.private-key.pem and GITHUB_TOKEN (mech EPHEMERAL_VIA_GITHUB_APP) under env.test of the manifest (live)",
    snapshot: false,
    apply: (box) => {
      const dir = join(box.base, 'fake-github')
      if (!box.liveEnv.GITHUB_API_URL) {
        mkdirSync(dir, { recursive: true })
        const server = Bun.spawn([process.execPath, resolve(import.meta.dir, '..', 'fakes', 'github-api.ts'), dir], { stdio: ['ignore', 'ignore', 'inherit'] })
        box.stops.push(() => server.kill())
        const deadline = Date.now() + 20_000
        while (!existsSync(join(dir, 'fake-github.json')) && Date.now() < deadline) Bun.sleepSync(50)
        box.liveEnv.GITHUB_API_URL = (JSON.parse(readFileSync(join(dir, 'fake-github.json'), 'utf8')) as { apiUrl: string }).apiUrl
      }
      cpSync(join(dir, 'app.private-key.pem'), join(box.repo, 'app.private-key.pem'))
      const manifest = join(box.repo, '.agent', 'keyrack.yml')
      const text = readFileSync(manifest, 'utf8')
      if (!text.includes('EPHEMERAL_VIA_GITHUB_APP'))
        writeFileSync(manifest, text.replace(/^env\.test:.*\n/m, (line) => `${line.replace(/ \[\]$/, '')}  - key: GITHUB_TOKEN\n    mech: EPHEMERAL_VIA_GITHUB_APP\n`))
    },
  },
  unlocked: {
    about: "human's keys for env test unlocked in the daemon (live: started for each block)",
    snapshot: false,
    apply: (box) => void box.keyrack(['unlock', '--for', 'repo', '--env', 'test', '--passphrase-fd', '3']),
  },
}

/** the state a block starts in when it says nothing: the README's repo, set up and unlocked */
export const DEFAULT_STATE = ['manifest', 'human', 'keys', 'seaturtle', 'unlocked']
