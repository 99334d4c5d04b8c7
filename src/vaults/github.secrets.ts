/**
 * github.secrets: a GitHub Actions secret of a repository, or of one of its deployment
 * environments — write-only. `set` provisions CI (`gh secret set NAME --repo R [--env E]`, the
 * secret on gh's stdin, never in argv; gh encrypts it to the repository's public key before it
 * leaves the machine); keyrack can never read it back, so `get` reports such a key `remote`
 * (it exists only in CI, where the job's environment carries it) and `unlock` skips it.
 *
 * The exid is where the secret lives: `OWNER/REPO` for a repository secret, or
 * `OWNER/REPO/environments/ENVIRONMENT` for an environment secret (the shape of GitHub's own
 * API path), optionally prefixed by a GitHub Enterprise host as gh takes it (`ghe.example.com/o/r`).
 * The secret's name is the key's name (GitHub stores it upper case).
 */
import type { Context } from '../context.ts'
import { KeyrackSecretInvalidError, KeyrackUsageError, KeyrackVaultError, KeyrackVaultUnavailableError } from '../domain/errors.ts'
import { parseSlug } from '../domain/names.ts'
import { printable } from '../domain/printable.ts'
import type { ToolInfo } from '../ports.ts'
import { findOnPath, installHint } from '../runtime/spawn.ts'
import type { RemoteVault, VaultKeyRef, VaultSession } from './vault.ts'

const GH: ToolInfo = {
  name: 'gh',
  install: { darwin: 'brew install gh', linux: 'sudo apt install gh', default: 'see https://cli.github.com' },
  purpose: 'vault github.secrets',
}
const EXID_FORM = 'OWNER/REPO[/environments/ENVIRONMENT]'
/** GitHub's limit on a secret's size */
const MAX_SECRET_BYTES = 48 * 1024

/** where a secret lives: `--repo` (gh's `[HOST/]OWNER/REPO`) and `--env` */
export interface SecretPlace {
  repo: string
  environment?: string
}

const HOST = '[A-Za-z0-9.-]+(?::\\d+)?'
const OWNER = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})'
const REPO = '[A-Za-z0-9_.-]{1,100}'
const ENVIRONMENT = '[A-Za-z0-9_.-]{1,255}'
const EXID = new RegExp(`^((?:${HOST}/)?${OWNER}/${REPO})(?:/environments/(${ENVIRONMENT}))?$`)

/** the exid as gh's arguments; a malformed one is a usage error naming the form */
export function parsePlace(exid: string): SecretPlace {
  const m = EXID.exec(exid.trim())
  if (!m || m[1]!.split('/').some((part) => part === '.' || part === '..'))
    throw new KeyrackUsageError(`\`--exid\` for github.secrets names a repository: ${EXID_FORM}`, [
      'e.g. `--exid acme/widgets`, or `--exid acme/widgets/environments/production` for an environment secret',
    ])
  return m[2] ? { repo: m[1]!, environment: m[2] } : { repo: m[1]! }
}

const placeArgs = (place: SecretPlace): string[] => ['--repo', place.repo, ...(place.environment ? ['--env', place.environment] : [])]
const describePlace = (place: SecretPlace): string => `${place.repo}${place.environment ? ` (environment ${place.environment})` : ''}`

/** the key's name as a GitHub secret name: GitHub refuses others, so say so before gh does */
function secretName(slug: string): string {
  const { key } = parseSlug(slug)
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || /^GITHUB_/i.test(key))
    throw new KeyrackUsageError(`${key} cannot be a GitHub Actions secret: secret names are letters, digits and _ and must not start with GITHUB_`, [
      'GitHub gives every job its own GITHUB_TOKEN: use `${{ secrets.GITHUB_TOKEN }}` (or a GitHub App token) in the workflow instead of provisioning one',
    ])
  return key
}

/** gh's answer as a typed error; gh never echoes a secret's value, and nothing of stdin is quoted */
function ghError(result: { code: number; stderr: string }, action: string, place: SecretPlace, secret?: string): Error {
  const said = result.stderr
  if (result.code === 4 || /gh auth login/.test(said))
    return new KeyrackVaultUnavailableError('gh is not signed in to GitHub', ['sign in: `gh auth login` (or set GH_TOKEN), then run the same keyrack command again'])
  if (/HTTP 404/.test(said))
    return new KeyrackVaultError(`GitHub has no repository ${describePlace(place)} where you can ${action} secrets (404)`, [
      `check the \`--exid\` (${EXID_FORM}) and that your gh account can administer that repository: \`gh repo view ${place.repo}\``,
    ])
  if (/HTTP 403/.test(said))
    return new KeyrackVaultError(`GitHub refused to ${action} a secret of ${describePlace(place)} (403)`, ['managing Actions secrets needs admin (or a token with the `repo` scope) on the repository: `gh auth refresh -s repo`'])
  const line = said.split('\n').find((l) => l.trim() !== '')?.trim() ?? ''
  const quoted = line && (!secret || !line.includes(secret)) ? `: ${printable(line.slice(0, 200))}` : ''
  return new KeyrackVaultError(`gh could not ${action} the secret of ${describePlace(place)} (exit ${result.code})${quoted}`, ['check that `gh secret list --repo ' + place.repo + '` works on its own, then try again'])
}

async function gh(session: VaultSession, argv: string[], stdin?: string) {
  return session.ctx.spawn({ argv: ['gh', ...argv], tool: GH, timeoutMs: 60_000, ...(stdin === undefined ? {} : { stdin }) })
}

const githubSecrets: RemoteVault = {
  id: 'github.secrets',
  protection: 'encrypted',
  description: 'a GitHub Actions secret of a repository or environment, via gh (write-only: provisions CI)',
  stores: ['secret'],
  // a key provisioned as it is; a GitHub App's private key belongs in a vault keyrack can read
  mechs: ['PERMANENT_VIA_REPLICA'],
  tool: GH,
  remote: true,
  exidForm: EXID_FORM,

  where: () => 'GitHub Actions secrets (through gh)',

  async isAvailable(ctx: Context) {
    if (findOnPath('gh', ctx.env.PATH)) return { available: true }
    const install = installHint(GH)
    return { available: false, reason: 'gh (the GitHub CLI) is not installed', hint: [...(install ? [`install it: \`${install}\``] : []), 'then sign in: `gh auth login`'] }
  },

  async set(session, { slug, secret, exid }) {
    if (!exid) throw new KeyrackUsageError(`github.secrets provisions a repository's secret: say which with \`--exid ${EXID_FORM}\``, ['e.g. `--exid acme/widgets`, or `--exid acme/widgets/environments/production`'])
    const place = parsePlace(exid)
    const name = secretName(slug)
    if (secret === undefined || secret === '') throw new KeyrackSecretInvalidError('the secret is empty', ['pass it on stdin with `--secret-stdin`'])
    // gh trims trailing newlines from stdin: a secret that ends in one would arrive changed
    if (/[\r\n]$/.test(secret))
      throw new KeyrackSecretInvalidError(`${name} ends with a line break, which gh drops: GitHub would hold a different secret`, ['remove the trailing newline (e.g. `printf %s "$SECRET"` instead of `echo`)'])
    if (new TextEncoder().encode(secret).byteLength > MAX_SECRET_BYTES)
      throw new KeyrackSecretInvalidError(`${name} is larger than GitHub's 48 KB limit for a secret`, ['store a larger secret in another vault, or keep only a decryption key in GitHub (GitHub\'s docs: "Storing large secrets")'])
    const result = await gh(session, ['secret', 'set', name, ...placeArgs(place)], secret)
    if (result.code !== 0) throw ghError(result, 'set', place, secret)
    return { exid: place.environment ? `${place.repo}/environments/${place.environment}` : place.repo }
  },

  // write-only: GitHub never gives a secret back
  async get() {
    return null
  },

  async exists(session, { slug, exid }) {
    if (!exid) return false
    const place = parsePlace(exid)
    const result = await gh(session, ['secret', 'list', ...placeArgs(place), '--json', 'name'])
    if (result.code !== 0) throw ghError(result, 'list', place)
    let names: { name?: unknown }[]
    try {
      names = JSON.parse(result.stdout)
    } catch {
      throw new KeyrackVaultError('gh secret list did not answer JSON', ['update gh (keyrack needs `gh secret list --json`, gh 2.40 or later): https://cli.github.com'])
    }
    const wanted = parseSlug(slug).key.toUpperCase()
    return Array.isArray(names) && names.some((n) => typeof n.name === 'string' && n.name.toUpperCase() === wanted)
  },

  async del(session, { slug, exid }) {
    if (!exid) return
    const place = parsePlace(exid)
    const result = await gh(session, ['secret', 'delete', secretName(slug), ...placeArgs(place)])
    // already gone is not an error (the contract of del)
    if (result.code !== 0 && !/HTTP 404/.test(result.stderr)) throw ghError(result, 'delete', place)
  },

  describeRemote(_ctx, { slug, exid }: VaultKeyRef) {
    const { key, env } = parseSlug(slug)
    const place = exid ? describePlace(parsePlace(exid)) : 'a repository (`keyrack list` shows which)'
    return {
      reason: `provisioned as a GitHub Actions secret of ${place}: it exists only in CI`,
      hint: [
        `in the workflow, give it to the step: \`env: ${key}: \${{ secrets.${key.toUpperCase()} }}\`, where \`keyrack get --for repo --env ${env} --ci\` reads it`,
        `to use ${key} on this machine, store it in a local vault instead (keyrack keeps one place per key; the Actions secret stays): \`keyrack set --key ${key} --env ${env} --vault os.secure --mech PERMANENT_VIA_REPLICA\``,
      ],
    }
  },
}
export default githubSecrets
