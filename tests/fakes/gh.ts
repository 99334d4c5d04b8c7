/**
 * A fake `gh` (GitHub CLI) for the `github.secrets` vault: the subset of `gh secret` keyrack runs,
 * with the real tool's contract (gh 2.x manual and source, pkg/cmd/secret):
 *
 *   gh secret set NAME --repo [HOST/]OWNER/REPO [--env ENV]   the value from stdin (trailing CR/LF trimmed,
 *                                                             as gh does); nothing on stdout when it is not a TTY
 *   gh secret list --repo R [--env ENV] --json name,updatedAt a JSON array
 *   gh secret delete NAME --repo R [--env ENV]                a missing secret: "HTTP 404: Not Found", exit 1
 *   signed out (state file `logged-out`): gh's "gh auth login" message, exit 4
 *   a repository not in `repos.json` (when that file exists): HTTP 404 on the repo's public key, as GitHub answers
 *   a name GitHub refuses (`GITHUB_…`, not [A-Za-z_][A-Za-z0-9_]*): HTTP 422
 *
 * Every call is recorded (argv and stdin) in `calls.jsonl`, and the secrets it holds in `secrets.json`,
 * both under $KEYRACK_FAKE_GH_DIR (set by the wrapper `installFakeGh` writes). A secret must arrive on stdin only: `--body`/`-b`, or the stdin's
 * value appearing anywhere in argv, fails the call (exit 97) so the test fails.
 *
 * `installFakeGh(dir)` puts an executable `gh` in `<dir>/bin` that runs this file with the current Bun.
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface FakeGh {
  /** put first on PATH */
  binDir: string
  /** where it records calls and keeps secrets (the wrapper sets KEYRACK_FAKE_GH_DIR to it) */
  stateDir: string
  calls(): { argv: string[]; stdin: string }[]
  /** the value GitHub holds for the secret, or undefined */
  secret(repo: string, name: string, environment?: string): string | undefined
  /** only these repositories exist (owner/repo) */
  setRepos(repos: string[]): void
  signOut(): void
}

export function installFakeGh(dir: string): FakeGh {
  const binDir = join(dir, 'bin')
  const stateDir = join(dir, 'gh-state')
  mkdirSync(binDir, { recursive: true })
  mkdirSync(stateDir, { recursive: true })
  const gh = join(binDir, 'gh')
  // the wrapper names its own state directory: whoever runs `gh` (keyrack, a README block) needs no setting
  writeFileSync(gh, `#!/bin/sh\nKEYRACK_FAKE_GH_DIR=${JSON.stringify(stateDir)} exec ${JSON.stringify(process.execPath)} ${JSON.stringify(import.meta.path)} "$@"\n`)
  chmodSync(gh, 0o755)
  return {
    binDir,
    stateDir,
    calls: () =>
      existsSync(join(stateDir, 'calls.jsonl'))
        ? readFileSync(join(stateDir, 'calls.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line))
        : [],
    secret: (repo, name, environment) => readSecrets(stateDir)[secretKey(repo, environment, name)]?.secret,
    setRepos: (repos) => writeFileSync(join(stateDir, 'repos.json'), JSON.stringify(repos)),
    signOut: () => writeFileSync(join(stateDir, 'logged-out'), ''),
  }
}

type Secrets = Record<string, { secret: string; updatedAt: string }>
const secretKey = (repo: string, environment: string | undefined, name: string) => `${repo.replace(/^[^/]+\/(?=[^/]+\/)/, '')}|${environment ?? ''}|${name.toUpperCase()}`
const readSecrets = (stateDir: string): Secrets => (existsSync(join(stateDir, 'secrets.json')) ? JSON.parse(readFileSync(join(stateDir, 'secrets.json'), 'utf8')) : {})

async function main(argv: string[]): Promise<number> {
  const stateDir = process.env.KEYRACK_FAKE_GH_DIR
  if (!stateDir) return fail('fake gh: KEYRACK_FAKE_GH_DIR is not set', 98)
  const stdin = process.stdin.isTTY ? '' : await new Response(Bun.stdin.stream()).text()
  appendFileSync(join(stateDir, 'calls.jsonl'), `${JSON.stringify({ argv, stdin })}\n`)
  if (argv.some((a) => a === '--body' || a === '-b' || a.startsWith('--body='))) return fail('fake gh: the secret was passed with --body (argv): it must come on stdin', 97)
  if (stdin.trim() !== '' && argv.some((a) => a.includes(stdin.trim()))) return fail('fake gh: the secret appeared in argv', 97)
  if (existsSync(join(stateDir, 'logged-out')))
    return fail('To get started with GitHub CLI, please run:  gh auth login\nAlternatively, populate the GH_TOKEN environment variable with a GitHub API authentication token.', 4)

  const [group, command, ...rest] = argv
  if (group !== 'secret' || !command) return fail(`unknown command "${group ?? ''}" for "gh"`, 1)
  const flags: Record<string, string> = {}
  const positional: string[] = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const long = { '-R': '--repo', '-e': '--env' }[arg] ?? arg
    if (long.startsWith('--')) flags[long.slice(2)] = rest[++i] ?? ''
    else positional.push(arg)
  }
  const repo = flags.repo
  if (!repo) return fail('fake gh: keyrack always names --repo', 1)
  const path = repo.split('/').slice(-2).join('/')
  const api = `https://api.github.com/repos/${path}${flags.env ? `/environments/${flags.env}` : ''}/secrets`
  const reposFile = join(stateDir, 'repos.json')
  if (existsSync(reposFile) && !(JSON.parse(readFileSync(reposFile, 'utf8')) as string[]).includes(path))
    return fail(`failed to fetch public key: HTTP 404: Not Found (${api}/public-key)`, 1)
  const secrets = readSecrets(stateDir)
  const save = () => writeFileSync(join(stateDir, 'secrets.json'), JSON.stringify(secrets))

  switch (command) {
    case 'set': {
      const name = positional[0]
      if (!name) return fail('must pass name argument', 1)
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || /^GITHUB_/i.test(name))
        return fail(`failed to set secret "${name}": HTTP 422: Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_) and must not start with GITHUB_. (${api}/${name})`, 1)
      // gh: bytes.TrimRight(body, "\r\n")
      secrets[secretKey(repo, flags.env, name)] = { secret: stdin.replace(/[\r\n]+$/, ''), updatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }
      save()
      return 0
    }
    case 'list': {
      const prefix = `${secretKey(repo, flags.env, '')}`
      const fields = (flags.json ?? '').split(',').filter(Boolean)
      const rows = Object.entries(secrets)
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, v]) => ({ name: k.slice(prefix.length), updatedAt: v.updatedAt }))
      if (fields.length === 0) process.stdout.write(rows.map((r) => `${r.name}\t${r.updatedAt}\n`).join(''))
      else process.stdout.write(`${JSON.stringify(rows.map((r) => Object.fromEntries(fields.map((f) => [f, r[f as keyof typeof r]]))), null, 2)}\n`)
      return 0
    }
    case 'delete': {
      const name = positional[0]
      if (!name) return fail('must pass name argument', 1)
      const key = secretKey(repo, flags.env, name)
      if (!secrets[key]) return fail(`failed to delete secret ${name}: HTTP 404: Not Found (${api}/${name})`, 1)
      delete secrets[key]
      save()
      return 0
    }
    default:
      return fail(`unknown command "${command}" for "gh secret"`, 1)
  }
}

function fail(message: string, code: number): number {
  process.stderr.write(`${message}\n`)
  return code
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)))
