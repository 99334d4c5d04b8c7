/**
 * A fake `aws` CLI (v2) for `aws sso login`, faithful to what the real one does on disk and on the
 * wire (botocore's SSOTokenFetcher / SSOTokenLoader):
 *
 *  - reads the profile from $AWS_CONFIG_FILE (default ~/.aws/config): `sso_session` → the
 *    `[sso-session NAME]` section (sso_start_url, sso_region, sso_registration_scopes), or the
 *    legacy `sso_start_url`/`sso_region` on the profile itself;
 *  - registers an OAuth client once per session (RegisterClient, clientName
 *    `botocore-client-<session>`: the consent users see as "Allow botocore-client-…?") and caches
 *    the registration; later logins reuse it;
 *  - StartDeviceAuthorization, prints the verification URL and code like the CLI, polls CreateToken;
 *  - writes the token cache where the CLI does: ~/.aws/sso/cache/<sha1(session name)>.json
 *    (legacy: sha1(start url)), 0600, with startUrl, region, accessToken, expiresAt and — for a
 *    session — clientId, clientSecret, registrationExpiresAt, refreshToken.
 *
 * It talks to AWS_ENDPOINT_URL_SSO_OIDC (the standard setting; the tests point it at the loopback
 * fake). Every call is appended to $FAKE_AWS_LOG (one JSON argv per line). `--sso-session` FAILS:
 * keyrack must use the portal flow (`--profile`), never the flag that starts the botocore flow.
 */
import { createHash } from 'node:crypto'
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

const argv = process.argv.slice(2)
if (process.env.FAKE_AWS_LOG) appendFileSync(process.env.FAKE_AWS_LOG, `${JSON.stringify(argv)}\n`)

const die = (message: string, code = 255): never => {
  process.stderr.write(`${message}\n`)
  process.exit(code)
}

const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1)
}

if (argv[0] === '--version') {
  process.stdout.write('aws-cli/2.31.0 Python/3.13.7 Linux/6.1 exe/x86_64 (fake)\n')
  process.exit(0)
}
if (argv[0] !== 'sso' || argv[1] !== 'login') die(`fake aws: only \`aws sso login\` is implemented (got: ${argv.slice(0, 2).join(' ')})`, 252)
if (argv.some((a) => a === '--sso-session' || a.startsWith('--sso-session=')))
  die('fake aws: `aws sso login --sso-session` starts the botocore-client OAuth flow; keyrack must sign in with `--profile`', 99)

const home = process.env.HOME || homedir()
const configFile = process.env.AWS_CONFIG_FILE || join(home, '.aws', 'config')
const profile = flag('--profile') ?? process.env.AWS_PROFILE ?? 'default'

/** section name → key → value, as botocore's ini reader sees it (comments, blank lines skipped) */
function readIni(file: string): Map<string, Record<string, string>> {
  const sections = new Map<string, Record<string, string>>()
  if (!existsSync(file)) return sections
  let current: Record<string, string> | null = null
  for (const raw of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[\s*([^\]]+?)\s*\]$/.exec(line)
    if (header) {
      const name = header[1]!.replace(/\s+/g, ' ')
      current = sections.get(name) ?? {}
      sections.set(name, current)
      continue
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line)
    if (kv && current) current[kv[1]!.trim()] = kv[2]!.trim()
  }
  return sections
}

const ini = readIni(configFile)
const section = ini.get(profile === 'default' ? 'default' : `profile ${profile}`) ?? (profile === 'default' ? undefined : undefined)
if (!section) die(`\nThe config profile (${profile}) could not be found`)
const sessionName = section!.sso_session
const session = sessionName ? ini.get(`sso-session ${sessionName}`) : section
if (sessionName && !session) die(`The specified sso-session does not exist: "${sessionName}"`)
const startUrl = session!.sso_start_url
const region = session!.sso_region
if (!startUrl || !region) die(`Missing the following required SSO configuration values: ${[!startUrl && 'sso_start_url', !region && 'sso_region'].filter(Boolean).join(', ')}. To make sure this profile is properly configured to use SSO, please run: aws configure sso`)
const scopes = (session!.sso_registration_scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean)
const oidc = process.env.AWS_ENDPOINT_URL_SSO_OIDC || process.env.AWS_ENDPOINT_URL || `https://oidc.${region}.amazonaws.com`

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex')
const cacheDir = join(home, '.aws', 'sso', 'cache')
const writePrivate = (file: string, data: unknown) => {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeFileSync(file, JSON.stringify(data), { mode: 0o600 })
  chmodSync(file, 0o600)
}
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

async function call(path: string, body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${oidc}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: response.status, json: (await response.json().catch(() => ({}))) as Record<string, unknown> }
}

// the client registration, cached per (start url, region, scopes, session) like botocore does
const registrationKey = sha1(JSON.stringify(Object.fromEntries(Object.entries({ region, scopes: sessionName ? scopes : undefined, session_name: sessionName, startUrl, tool: 'botocore' }).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)))))
const registrationFile = join(cacheDir, `${registrationKey}.json`)
let registration = existsSync(registrationFile) ? (JSON.parse(readFileSync(registrationFile, 'utf8')) as { clientId: string; clientSecret: string; expiresAt: string }) : null
if (!registration || Date.parse(registration.expiresAt) <= Date.now()) {
  const r = await call('/client/register', { clientName: `botocore-client-${sessionName ?? 'legacy'}`, clientType: 'public', ...(scopes.length ? { scopes } : {}) })
  if (r.status !== 200) die(`An error occurred (${String(r.json.error ?? 'Unknown')}) when calling the RegisterClient operation`)
  registration = { clientId: String(r.json.clientId), clientSecret: String(r.json.clientSecret), expiresAt: isoSeconds(Number(r.json.clientSecretExpiresAt) * 1000) }
  writePrivate(registrationFile, { ...registration, scopes })
}

const device = await call('/device_authorization', { clientId: registration.clientId, clientSecret: registration.clientSecret, startUrl })
if (device.status !== 200) die(`An error occurred (${String(device.json.error ?? 'Unknown')}) when calling the StartDeviceAuthorization operation`)
process.stdout.write(
  'Attempting to automatically open the SSO authorization page in your default browser.\n' +
    'If the browser does not open or you wish to use a different device to authorize this request, open the following URL:\n\n' +
    `${String(device.json.verificationUri)}\n\nThen enter the code:\n\n${String(device.json.userCode)}\n`,
)

for (let attempt = 0; ; attempt++) {
  const token = await call('/token', { clientId: registration.clientId, clientSecret: registration.clientSecret, grantType: 'urn:ietf:params:oauth:grant-type:device_code', deviceCode: device.json.deviceCode })
  if (token.status === 200) {
    const expiresAt = isoSeconds(Date.now() + Number(token.json.expiresIn) * 1000)
    const file = join(cacheDir, `${sha1(sessionName ?? startUrl!)}.json`)
    writePrivate(file, {
      startUrl, region, accessToken: token.json.accessToken, expiresAt,
      ...(sessionName ? { clientId: registration.clientId, clientSecret: registration.clientSecret, registrationExpiresAt: registration.expiresAt, refreshToken: token.json.refreshToken } : {}),
    })
    process.stdout.write(`Successfully logged into Start URL: ${startUrl}\n`)
    process.exit(0)
  }
  if (token.json.error !== 'authorization_pending' || attempt > 50) die(`\nAn error occurred (${String(token.json.error)}) when calling the CreateToken operation: ${String(token.json.error_description ?? '')}`)
  await Bun.sleep(50)
}
