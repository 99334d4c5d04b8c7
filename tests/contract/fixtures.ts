/**
 * One fixture per registered vault: how the contract suite (./vaults.test.ts) gives that vault an
 * isolated place to work. A vault in the registry without a fixture here fails the suite, so a new
 * vault cannot skip the contract. A fixture returns the environment variables its vault needs —
 * e.g. PATH with a fake tool from tests/fakes/ first, or the address of a private dbus session —
 * and `stop` to undo what it started.
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseSlug } from '../../src/domain/names.ts'
import { awsEndpointEnv, startAwsFake } from '../fakes/aws-server.ts'
import { installFakeAws } from '../fakes/aws-process.ts'
import { createRuntimeDir } from '../helpers/runtime-dir.ts'
import { secretServiceMissing, startSecretService } from '../helpers/secret-service.ts'
import { installFakeOp } from '../fakes/op.ts'
import { installFakeGh, type FakeGh } from '../fakes/gh.ts'

export interface VaultFixture {
  start(dir: string): Promise<{ env: Record<string, string | undefined>; stop?: () => Promise<void> }>
  /** a vault that reads its secret from elsewhere (os.envvar): put the secret where it will look */
  provide?(env: Record<string, string | undefined>, slug: string, secret: string): void
  /**
   * a vault that stores only references (`stores: ['exid']`): create an item holding `secret` in
   * the vault's (fake) backend and return the reference to it, e.g. `op://Private/item/field`
   */
  reference?(env: Record<string, string | undefined>, secret: string): Promise<string>
  /**
   * a vault whose references are names that resolve to themselves (aws.config: a profile name):
   * make an item, and say what it resolves to — the secrets round trip does not apply to it
   */
  item?(env: Record<string, string | undefined>, name: string): { exid: string; resolves: string }
  /** why the vault's real service cannot run here (a tool `.ci/run` installs is missing), or null */
  missing?(): string | null
  /**
   * a vault that provisions elsewhere and cannot read back (github.secrets): the destination to
   * give as `exid`, and what the far side holds now (the fake service's record), for the round trip
   */
  remote?: { exid: string; read(slug: string): string | undefined }
}

/** vaults that need nothing outside keyrack: just a temp home */
const builtin: VaultFixture = { start: async () => ({ env: {} }) }

export const fixtures: Record<string, VaultFixture> = {
  'os.secure': builtin,
  'os.direct': builtin,
  'os.envvar': {
    start: async () => ({ env: {} }),
    provide: (env, slug, secret) => void (env[parseSlug(slug).key] = secret),
  },
  // the daemon starts in the suite's own XDG_RUNTIME_DIR; the suite relocks (stops) it at the end
  'os.daemon': builtin,
  // the loopback AWS fake's SSM, reached with role credentials the fake issued (in the environment)
  'aws.params': {
    start: async () => {
      const fake = startAwsFake()
      const c = fake.credentialsFor('arn:aws:iam::111111111111:role/contract')
      return {
        env: { ...awsEndpointEnv(fake.url), AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, AWS_SESSION_TOKEN: c.sessionToken },
        stop: async () => fake.stop(),
      }
    },
  },
  // the loopback AWS fake (IAM Identity Center portal + OIDC) and the fake `aws` CLI on PATH
  'aws.config': {
    start: async (dir) => {
      const fake = startAwsFake()
      return { env: { PATH: `${installFakeAws(dir)}:${process.env.PATH}`, ...awsEndpointEnv(fake.url), SSO_START_URL: fake.startUrl }, stop: async () => fake.stop() }
    },
    item: (env, name) => {
      mkdirSync(join(env.HOME!, '.aws'), { recursive: true })
      appendFileSync(join(env.HOME!, '.aws', 'config'), `\n[profile ${name}]\nsso_session = contract\nsso_account_id = 111111111111\nsso_role_name = ReadOnlyAccess\n\n[sso-session contract]\nsso_start_url = ${env.SSO_START_URL}\nsso_region = us-east-1\n`)
      return { exid: name, resolves: name }
    },
  },
  // the real Secret Service (gnome-keyring) on a private session bus, its keyring under the suite's HOME
  'os.keychain': {
    missing: secretServiceMissing,
    start: async (dir) => {
      const service = await startSecretService({ dir, home: dir, runtimeDir: createRuntimeDir(dir) })
      return { env: service.env, stop: service.stop }
    },
  },
  // a fake `op` first on PATH, signed in as `eval "$(op signin)"` would leave the shell
  '1password': {
    start: async (dir) => {
      const op = installFakeOp(dir)
      return { env: { PATH: `${op.binDir}:${process.env.PATH}`, ...op.env, ...op.signIn() } }
    },
  },
  'github.secrets': (() => {
    let gh: FakeGh | undefined
    return {
      start: async (dir) => {
        gh = installFakeGh(dir)
        return { env: { PATH: `${gh.binDir}:${process.env.PATH}` } }
      },
      remote: { exid: 'acme/widgets', read: (slug) => gh?.secret('acme/widgets', parseSlug(slug).key) },
    }
  })(),
}
