import { defineCommand, type ArgsDef, type ParsedArgs } from 'citty'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { assertOrg, ORG_PATTERN } from '../../domain/names.ts'
import { orgFromGitRemotes } from '../../manifests/git-remote.ts'
import { hints } from '../../domain/hints.ts'
import { REPLICA_MECH, SUGGESTED_VAULT } from '../../domain/ids.ts'
import { findWorksite } from '../../manifests/worksite.ts'
import { writeFileAtomic } from '../../runtime/fs-atomic.ts'
import { init } from '../../sdk/init.ts'
import { isInteractive, passphraseSource, readLine } from '../io.ts'
import { action, say, warn } from '../report.ts'
import { cliContext, ownerArgs, passphraseArgs } from './_args.ts'

/** the envs a starter manifest declares: `env.all` (every env) and one env for tests */
const STARTER_ENVS = ['all', 'test'] as const

const starter = (org: string, source: string): string => `# keyrack repo manifest: the allowlist of keys this repo's tests and tools may get.
# keyrack refuses to look up any key that is not listed here for the env asked for.
# docs: https://github.com/ehmpathy/keyrack#repo-manifest
org: ${org}   # ${source}; keys are stored as <org>.<env>.<KEY>

# keys every declared env needs (looked up as <org>.<env>.KEY, then <org>.all.KEY)
env.all: []
#  - XAI_API_KEY

# keys for tests; entries are a bare name, \`NAME: grade\`, or an object:
env.test: []
#  - AWS_PROFILE: ephemeral             # grade: encrypted | ephemeral | "encrypted,ephemeral"
#  - key: GITHUB_TOKEN
#    mech: EPHEMERAL_VIA_GITHUB_APP     # the mech the key must come from
#    is-optional-if-has: GH_TOKEN       # not required when that key is present
`

const initArgs = {
  ...ownerArgs,
  ...passphraseArgs,
  repo: { type: 'boolean', description: 'write a commented starter .agent/keyrack.yml in this git repo' },
  org: { type: 'string', description: "with --repo: the repo's org (default: the owner in the git remote's URL)", valueHint: 'org' },
  via: { type: 'string', description: 'age (default: keyrack generates an X25519 identity) | ssh (your ed25519 ssh key)', valueHint: 'age|ssh' },
  passphrase: { type: 'boolean', default: true, description: 'protect the generated identity with a passphrase', negativeDescription: 'store the identity unprotected (unattended machines only)' },
  pubkey: { type: 'string', description: 'with --via ssh: the public key file (default ~/.ssh/id_ed25519.pub)', valueHint: 'path' },
  identity: { type: 'string', description: 'with --via ssh: the private key file (default: pubkey without .pub)', valueHint: 'path' },
  recipient: { type: 'string', description: 'a backup recipient (age1… or "ssh-ed25519 …"); repeatable', valueHint: 'key' },
} as const satisfies ArgsDef

export default defineCommand({
  meta: {
    name: 'init',
    description: 'create your encryption identity and host manifest, or (--repo) a starter .agent/keyrack.yml\n\n' +
      'examples:\n  keyrack init\n  keyrack init --no-passphrase --owner seaturtle   # unattended robot\n' +
      '  keyrack init --via ssh --pubkey ~/.ssh/id_ed25519.pub\n  keyrack init --repo',
  },
  args: initArgs,
  // citty keeps one value per flag; --recipient is repeatable, so read every one from the raw argv
  run: action<ParsedArgs<typeof initArgs>>((args, rawArgs) => runInit(args, repeatedFlag(rawArgs, 'recipient')), { repeatable: ['recipient'] }),
})

async function runInit(args: ParsedArgs<typeof initArgs>, recipients: string[]): Promise<void> {
  if (args.repo) return initRepo(args.org)
  const via = args.via ?? 'age'
  if (via !== 'age' && via !== 'ssh') throw new KeyrackUsageError(`unknown identity kind '${String(via).slice(0, 20)}'`, ['use `--via age` or `--via ssh`'])
  const ctx = cliContext(args, via === 'age' && args.passphrase ? passphraseSource(args) : undefined)
  if (via === 'age' && !args.passphrase)
    warn('the identity is stored unprotected: anyone who can read your files can decrypt your keys; use this only on unattended machines')
  const result = await init(ctx, { via, passphrase: args.passphrase, pubkey: args.pubkey, identity: args.identity, recipients })
  say(`created the keyrack of owner '${result.owner}' (${result.via === 'age' ? 'age X25519 identity' : 'ssh-ed25519 identity'})`)
  say(`public key: ${result.recipient}`)
  if (result.recipients.length > 1) say(`backup recipients: ${result.recipients.length - 1}`)
  say(`host manifest: ${result.hostManifest}`)
  say(`next: ${hints.set(result, { key: 'KEY', env: 'test', mech: REPLICA_MECH })}`)
}

/**
 * `init --repo`: a starter .agent/keyrack.yml whose `org:` is real — from `--org`, else the git
 * remote's owner, else asked for on a terminal; without any of them it stops with the command.
 */
async function initRepo(orgFlag: string | undefined): Promise<void> {
  const worksite = findWorksite(process.cwd())
  if (!worksite) throw new KeyrackUsageError(`${process.cwd()} is not inside a git repo`, ['cd into your repo (or run `git init`) and try again'])
  const file = join(worksite, '.agent', 'keyrack.yml')
  if (existsSync(file)) throw new KeyrackUsageError(`${file} already exists; keyrack will not overwrite it`, ['edit it, or move it aside first'])
  const fromRemote = orgFlag === undefined ? orgFromGitRemotes(worksite) : undefined
  let org = orgFlag === undefined ? fromRemote?.org : assertOrg(orgFlag)
  let source = orgFlag !== undefined ? 'from --org' : fromRemote ? `the owner of git remote ${fromRemote.remote}` : 'as typed'
  if (!org) {
    if (!isInteractive())
      throw new KeyrackUsageError("no org for the repo manifest: this repo's git remotes name no owner, and there is no terminal to ask on", [
        'name it: `keyrack init --repo --org <org>` (the GitHub org or user the repo belongs to, e.g. `--org acme`)',
      ])
    for (;;) {
      const typed = (await readLine("keyrack: which org do this repo's keys belong to? (the GitHub org or user, e.g. acme): ")).trim()
      if (ORG_PATTERN.test(typed) && typed !== '@all') {
        org = typed
        break
      }
      process.stderr.write('keyrack: that is not a valid org name (letters, digits, - and _); try again, or Ctrl-C to stop\n')
    }
    source = 'as typed'
  }
  if (org === '@all') throw new KeyrackUsageError('a repo manifest needs a real org, not `@all`', ['e.g. `keyrack init --repo --org acme`'])
  mkdirSync(join(worksite, '.agent'), { recursive: true })
  writeFileAtomic(file, starter(org, source), 0o644)
  const envs = STARTER_ENVS.filter((e) => e !== 'all')
  say(`wrote ${file}: org ${org} (${source}); envs: ${envs.join(', ')}, and env.all for keys every env needs`)
  say(`next: list the keys this repo needs under \`env.${envs[0]}:\` (or \`env.all:\`), e.g. \`  - XAI_API_KEY\`, and commit the file`)
  say(`then store each one: keyrack set --key XAI_API_KEY --env ${envs[0]} --vault ${SUGGESTED_VAULT} --mech ${REPLICA_MECH}`)
}

/** every value of a repeatable string flag (`--name v` or `--name=v`), up to `--` */
export function repeatedFlag(rawArgs: string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!
    if (arg === '--') break
    if (arg === `--${name}` && i + 1 < rawArgs.length) values.push(rawArgs[++i]!)
    else if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3))
  }
  return values
}
