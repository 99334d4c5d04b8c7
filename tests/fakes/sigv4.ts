/**
 * Verifies an AWS Signature Version 4 `Authorization` header the way an AWS service does, written
 * from the published algorithm (docs: "Create a signed AWS API request"), not with the SDK's own
 * signer — so a fake that uses it proves the SDK signed the request with the secret the fake issued.
 *
 *   canonical request = method \n uri \n query \n headers \n signed-headers \n sha256(payload)
 *   string to sign    = AWS4-HMAC-SHA256 \n amz-date \n scope \n sha256(canonical request)
 *   signing key       = HMAC chain of "AWS4"+secret over date, region, service, "aws4_request"
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

export interface SignedBy {
  accessKeyId: string
  region: string
  service: string
  /** the request's x-amz-date, as epoch ms */
  signedAt: number
}

export type Sigv4Result = { ok: true; by: SignedBy } | { ok: false; code: 'MissingAuthenticationToken' | 'IncompleteSignature' | 'SignatureDoesNotMatch' | 'UnrecognizedClient'; message: string }

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex')
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest()

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters */
const encode = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/**
 * @param secretOf the secret access key the fake issued for an access key id (null: unknown key)
 */
export function verifySigv4(request: { method: string; url: URL; headers: Headers; body: Uint8Array }, secretOf: (accessKeyId: string) => string | null): Sigv4Result {
  const auth = request.headers.get('authorization')
  if (!auth) return { ok: false, code: 'MissingAuthenticationToken', message: 'Request is missing Authentication Token' }
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth)
  if (!m) return { ok: false, code: 'IncompleteSignature', message: 'Authorization header requires Credential, SignedHeaders and Signature' }
  const [, accessKeyId, date, region, service, signedHeaderList, signature] = m as unknown as string[]
  const secret = secretOf(accessKeyId!)
  if (secret === null) return { ok: false, code: 'UnrecognizedClient', message: 'The security token included in the request is invalid.' }
  const amzDate = request.headers.get('x-amz-date') ?? ''
  if (!amzDate.startsWith(date!)) return { ok: false, code: 'IncompleteSignature', message: 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP' }
  const signedHeaders = signedHeaderList!.split(';')
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${(request.headers.get(name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('')
  const query = [...request.url.searchParams].map(([k, v]) => [encode(k), encode(v)] as const).sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
  const canonicalQuery = query.map(([k, v]) => `${k}=${v}`).join('&')
  // non-S3 services encode each path segment once more
  const canonicalUri = request.url.pathname.split('/').map((segment) => encode(decodeURIComponent(segment))).map(encode).join('/') || '/'
  const payloadHash = request.headers.get('x-amz-content-sha256') ?? sha256(request.body)
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256(request.body))
    return { ok: false, code: 'SignatureDoesNotMatch', message: 'The request body does not match x-amz-content-sha256' }
  const canonicalRequest = [request.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaderList, payloadHash].join('\n')
  const scope = `${date}/${region}/${service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n')
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), service!), 'aws4_request')
  const expected = createHmac('sha256', key).update(stringToSign).digest('hex')
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature!)))
    return { ok: false, code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided.' }
  const signedAt = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15))
  return { ok: true, by: { accessKeyId: accessKeyId!, region: region!, service: service!, signedAt } }
}
