/**
 * aws.params: a key kept as an AWS Systems Manager Parameter Store SecureString — encrypted with
 * KMS at rest, shared by everyone on the team whose AWS identity may read it (protection
 * `encrypted`). Reads and writes go through the SDK (GetParameter WithDecryption, PutParameter
 * SecureString Overwrite, DeleteParameter); the secret never passes through argv or a file.
 *
 * Where (the exid): the parameter's name, with the identity and region it is reached with —
 *
 *   /keyrack/acme/test/XAI_API_KEY?profile=acme.test.admin&region=us-east-1
 *
 * By default the name is `/keyrack/<org>/<env>/<KEY>`, the profile AWS_PROFILE (when set) and the
 * region AWS_REGION or the profile's; `set` records them all, so a later unlock reaches the same
 * parameter the same way from any shell. The profile may be an AWS SSO profile keyrack holds
 * (EPHEMERAL_VIA_AWS_SSO): its role credentials are fetched fresh from the cached sign-in, and
 * unlock signs in again (the portal flow) when that session is over.
 *
 * It has a lock of its own (the AWS identity), so `get` sees its keys only through the daemon,
 * after an unlock — never a network call on the `get` path.
 */
import { KeyrackSecretInvalidError, KeyrackUsageError, KeyrackVaultError } from '../domain/errors.ts'
import { parseSlug } from '../domain/names.ts'
import { printable } from '../domain/printable.ts'
import type { LockableVault, VaultSession } from './vault.ts'

/** SSM's limit for a standard parameter's value (advanced parameters cost money: never chosen silently) */
export const MAX_PARAMETER_BYTES = 4096
const NAME = /^[A-Za-z0-9_.\-/]{1,1011}$/

export interface ParameterPlace {
  name: string
  profile?: string
  region?: string
}

/** `name?profile=…&region=…` → its parts */
export function parsePlace(exid: string): ParameterPlace {
  const [name, query = ''] = exid.split('?', 2) as [string, string?]
  const params = new URLSearchParams(query)
  for (const k of params.keys()) if (k !== 'profile' && k !== 'region') throw badPlace(`unknown setting \`${printable(k.slice(0, 20))}\``)
  if (!NAME.test(name) || (name.includes('/') && !name.startsWith('/')) || /^\/?(aws|ssm)/i.test(name)) throw badPlace('the parameter name is not one SSM accepts')
  return { name, ...(params.get('profile') ? { profile: params.get('profile')! } : {}), ...(params.get('region') ? { region: params.get('region')! } : {}) }
}

export const formatPlace = (place: ParameterPlace): string => {
  const query = new URLSearchParams({ ...(place.profile ? { profile: place.profile } : {}), ...(place.region ? { region: place.region } : {}) }).toString()
  return query ? `${place.name}?${query}` : place.name
}

const badPlace = (what: string) =>
  new KeyrackUsageError(`the aws.params place is invalid: ${what}`, ['it is `/path/to/NAME`, optionally followed by `?profile=<aws profile>&region=<region>`, e.g. `--exid "/keyrack/acme/test/XAI_API_KEY?profile=acme.test.admin"`'])

/** the place a key's parameter is at: what the host manifest recorded, or the default for the slug */
function placeOf(session: VaultSession, slug: string, exid: string | null): ParameterPlace {
  if (exid) return parsePlace(exid)
  const { org, env, key } = parseSlug(slug)
  return { name: `/keyrack/${org.replace(/^@/, '')}/${env}/${key}` }
}

async function client(session: VaultSession, place: ParameterPlace) {
  const { awsIdentity } = await import('../aws/identity.ts')
  const { ssmClient } = await import('../aws/clients.ts')
  const identity = await awsIdentity(session.ctx, { profile: place.profile, region: place.region, what: `the parameter ${place.name}` })
  return { ssm: await ssmClient(session.ctx, identity), identity }
}

const denied = (place: ParameterPlace, error: unknown) =>
  import('../aws/clients.ts').then(({ awsError }) =>
    awsError(`AWS refused access to the parameter ${printable(place.name)}`, error, [
      `check that ${place.profile ? `profile ${printable(place.profile)}` : 'your AWS identity'} may use it (ssm:GetParameter/PutParameter/DeleteParameter, and kms:Decrypt/Encrypt on its key)`,
    ]),
  )

export const awsParamsVault: LockableVault = {
  id: 'aws.params',
  protection: 'encrypted',
  description: 'an AWS SSM Parameter Store SecureString (KMS-encrypted), shared with your team through your AWS identity',
  stores: ['secret', 'exid'],
  maxSecretBytes: MAX_PARAMETER_BYTES,
  where: () => 'AWS Systems Manager Parameter Store',

  async isAvailable() {
    // the SDK is built in; whether the identity works is for unlock and set to find out
    return { available: true }
  },

  async set(session, { slug, secret, exid }) {
    const given = placeOf(session, slug, exid ?? null)
    // record the identity and region it was reached with, so a later unlock does the same from any shell
    const { profileFor, regionFor } = await import('../aws/identity.ts')
    const profile = profileFor(session.ctx, given.profile)
    const place: ParameterPlace = { name: given.name, ...(profile ? { profile } : {}), region: regionFor(session.ctx, given.region, profile, `the parameter ${given.name}`) }
    const { ssm } = await client(session, place)
    const { PutParameterCommand, GetParameterCommand } = await import('@aws-sdk/client-ssm')
    try {
      if (secret === undefined) {
        // a pointer to a parameter someone already keeps: it must exist; nothing is written
        await ssm.send(new GetParameterCommand({ Name: place.name, WithDecryption: false }))
        return { exid: formatPlace(place) }
      }
      if (Buffer.byteLength(secret) > MAX_PARAMETER_BYTES)
        throw new KeyrackSecretInvalidError(`an SSM parameter holds at most ${MAX_PARAMETER_BYTES} bytes, and this secret is ${Buffer.byteLength(secret)}; nothing was stored`, [
          'keep a larger secret in os.secure: `--vault os.secure`',
        ])
      await ssm.send(new PutParameterCommand({ Name: place.name, Value: secret, Type: 'SecureString', Overwrite: true }))
      return { exid: formatPlace(place) }
    } catch (error) {
      if (error instanceof KeyrackSecretInvalidError) throw error
      if ((error as { name?: string }).name === 'ParameterNotFound')
        throw new KeyrackVaultError(`there is no SSM parameter ${printable(place.name)}${place.region ? ` in ${place.region}` : ''}`, ['check its name and region, or store a secret there: pass it with `--secret-stdin`'])
      throw await denied(place, error)
    } finally {
      ssm.destroy()
    }
  },

  async get(session, { slug, exid }) {
    const place = placeOf(session, slug, exid)
    const { ssm } = await client(session, place)
    const { GetParameterCommand } = await import('@aws-sdk/client-ssm')
    try {
      const { Parameter } = await ssm.send(new GetParameterCommand({ Name: place.name, WithDecryption: true }))
      return Parameter?.Value ?? null
    } catch (error) {
      if ((error as { name?: string }).name === 'ParameterNotFound') return null
      throw await denied(place, error)
    } finally {
      ssm.destroy()
    }
  },

  async del(session, { slug, exid }) {
    const place = placeOf(session, slug, exid)
    const { ssm } = await client(session, place)
    const { DeleteParameterCommand } = await import('@aws-sdk/client-ssm')
    try {
      await ssm.send(new DeleteParameterCommand({ Name: place.name }))
    } catch (error) {
      if ((error as { name?: string }).name !== 'ParameterNotFound') throw await denied(place, error)
    } finally {
      ssm.destroy()
    }
  },

  /** signs in again (portal flow) where a key's AWS identity is an SSO profile whose session is over */
  async unlock(session, keys = []) {
    const { profileFor, ssoProfileFor } = await import('../aws/identity.ts')
    const profiles = [...new Set(keys.map((k) => profileFor(session.ctx, placeOf(session, k.slug, k.exid).profile)).filter((p): p is string => Boolean(p)))]
    const sso = profiles.flatMap((p) => ssoProfileFor(session.ctx, p) ?? [])
    if (sso.length === 0) return
    const { ensureSignedIn } = await import('../aws/sso-session.ts')
    await ensureSignedIn(session.ctx, sso)
  },
}
export default awsParamsVault
