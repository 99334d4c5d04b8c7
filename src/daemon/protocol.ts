/**
 * The daemon's wire protocol (SPEC §10): newline-delimited JSON frames over a unix socket.
 *
 *   request:  { "v": 1, "id": <string|int>, "op": "ping" | "put" | "get" | "list" | "relock" | "stop", ... }
 *   response: { "v": 1, "id": <same id or null>, "ok": true, "result": {...} }
 *           | { "v": 1, "id": <same id or null>, "ok": false, "error": { "code", "message" } }
 *
 * One request per line, one response per request, in order. A frame larger than
 * MAX_MESSAGE_BYTES gets an error reply and the connection is closed (we cannot find the
 * next frame boundary safely). Malformed JSON, a wrong version, an unknown op or a schema
 * failure get an error reply and the connection stays usable.
 *
 * Error messages name the op and the failing field path, never a received value: a
 * mistyped frame may carry a secret in the wrong field.
 */
import * as v from 'valibot'
import { DURATIONS, PROTECTIONS, type Grade } from '../domain/grade.ts'
import type { Grant } from '../domain/grant.ts'
import { LIMITS } from '../domain/limits.ts'
import { secretProblem } from '../domain/secret.ts'
import { PROTOCOL_VERSION } from './frames.ts'

export { encodeFrame, LineDecoder, MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from './frames.ts'
export const OPS = ['ping', 'put', 'get', 'list', 'relock', 'stop', 'audit'] as const
export type Op = (typeof OPS)[number]

const Id = v.union([v.pipe(v.string(), v.maxLength(64)), v.pipe(v.number(), v.safeInteger(), v.minValue(0))])
export type RequestId = v.InferOutput<typeof Id>

/** loose on purpose (the SDK validates slugs); just bounded and free of whitespace/control characters */
const Slug = v.pipe(v.string(), v.minLength(1), v.maxLength(LIMITS.slugLength), v.regex(/^[^\s\u0000-\u001f\u007f]+$/))
const Name = v.pipe(v.string(), v.minLength(1), v.maxLength(64), v.regex(/^[A-Za-z0-9_.:@-]+$/))
const EpochMs = v.pipe(v.number(), v.safeInteger(), v.minValue(0))
const GradeSchema = v.object({ protection: v.picklist(PROTECTIONS), duration: v.picklist(DURATIONS) })
const Slugs = v.pipe(v.array(Slug), v.maxLength(10_000))

/** an env-var name a companion is exported as */
const EnvName = v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/))
// the same rule `set` and `unlock` apply (size in UTF-8 bytes, no NUL), so nothing they let through is refused here
const Secret = v.pipe(v.string(), v.check((secret) => secretProblem(secret) === null))
/**
 * A renewable key's (mechs/mech.ts RenewableMech): what the daemon needs to mint it again before it
 * expires, for as long as the unlock lasts. `secret` is as sensitive as the key's stored source.
 */
const RenewalSchema = v.object({
  secret: v.pipe(Secret, v.minLength(1)),
  /** absolute epoch ms: the end of the unlock; the key is renewed until then and never served after */
  until: EpochMs,
  /** renew this long before the key expires (or halfway through its life, when that is sooner) */
  beforeMs: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
})

const GrantInputSchema = v.object({
  slug: Slug,
  key: v.object({ secret: Secret, grade: GradeSchema }),
  mech: Name,
  vault: Name,
  /** absolute epoch ms: min(unlock duration, credential expiry), computed by the caller */
  expiresAt: EpochMs,
  /** sliding idle timeout; each get pushes the idle deadline out, never past expiresAt */
  idleTimeoutMs: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1))),
  /** env vars that travel with the key (role credentials), with their own, earlier, expiry */
  companions: v.optional(
    v.object({
      secrets: v.pipe(
        v.record(EnvName, Secret),
        v.check((r) => Object.keys(r).length <= 16, 'at most 16 companions'),
      ),
      expiresAt: v.optional(EpochMs),
    }),
  ),
  /** a key the daemon renews (its expiresAt is the current key's expiry, before the unlock ends) */
  renewal: v.optional(RenewalSchema),
})
export type GrantInput = v.InferOutput<typeof GrantInputSchema>

/**
 * Who is asking, for the daemon's audit line (the caller's process chain the daemon reads itself,
 * from the kernel's peer credentials: a client cannot name someone else)
 */
const AuditContextSchema = v.object({
  command: v.pipe(v.string(), v.minLength(1), v.maxLength(64), v.regex(/^[A-Za-z0-9_.:-]+$/)),
  worksite: v.nullable(v.pipe(v.string(), v.maxLength(4096))),
  env: v.nullable(v.pipe(v.string(), v.maxLength(64))),
  details: v.optional(v.pipe(v.record(v.pipe(v.string(), v.maxLength(64)), v.nullable(v.union([v.pipe(v.string(), v.maxLength(256)), v.number(), v.boolean()]))), v.check((r) => Object.keys(r).length <= 16))),
})
export type AuditContext = v.InferOutput<typeof AuditContextSchema>

/** a line a command decided (a refusal, a set, an unlock) for the daemon to write while it is the log's writer */
const AuditLineSchema = v.object({
  ...AuditContextSchema.entries,
  slugs: v.pipe(v.array(v.pipe(v.string(), v.maxLength(256))), v.maxLength(1000)),
  outcome: v.picklist(['granted', 'refused', 'ok', 'error']),
  reason: v.nullable(v.pipe(v.string(), v.maxLength(4096))),
})
export type AuditLine = v.InferOutput<typeof AuditLineSchema>

const base = { v: v.literal(PROTOCOL_VERSION), id: Id }
const RequestSchema = v.variant('op', [
  v.object({ ...base, op: v.literal('ping') }),
  v.object({ ...base, op: v.literal('put'), grants: v.pipe(v.array(GrantInputSchema), v.minLength(1), v.maxLength(LIMITS.keysPerUnlock)) }),
  v.object({ ...base, op: v.literal('get'), slugs: Slugs, audit: v.optional(AuditContextSchema) }),
  v.object({ ...base, op: v.literal('list') }),
  /** no slugs: relock everything; the CLI turns --env/--key filters into a slug list via `list` */
  v.object({ ...base, op: v.literal('relock'), slugs: v.optional(Slugs) }),
  v.object({ ...base, op: v.literal('stop') }),
  v.object({ ...base, op: v.literal('audit'), line: AuditLineSchema }),
])
export type Request = v.InferOutput<typeof RequestSchema>
export type RequestOf<O extends Op> = Extract<Request, { op: O }>

// ---- results ----------------------------------------------------------------------------

export interface PingResult {
  pid: number
  owner: string
  uid: number
  /** epoch ms */
  startedAt: number
}
export interface PutResult {
  stored: number
}
export type SlugState =
  /** a grant whose companions ran out is served without them (`companionsExpiredAt` says when) */
  | { slug: string; state: 'granted'; grant: Grant; expiresAt: number; idleExpiresAt?: number; companionsExpiredAt?: number; renewsUntil?: number }
  | { slug: string; state: 'missing' }
  | { slug: string; state: 'expired'; expiredAt: number }
export interface GetResult {
  /** one entry per requested slug, in request order */
  results: SlugState[]
  /** the daemon wrote the audit line for the granted slugs (the request carried `audit`) */
  audited?: boolean
}
/** what `list` shows: never a secret */
export interface GrantSummary {
  slug: string
  grade: Grade
  mech: string
  vault: string
  /** when the key held now expires */
  expiresAt: number
  idleExpiresAt?: number
  /** the names of its companions (never their secrets) and when they end */
  companions?: { keys: string[]; expiresAt?: number }
  /** a renewed key: the daemon mints it again before it expires, until this moment (the unlock's end) */
  renewsUntil?: number
  /** a renewed key: how many times it was renewed */
  renewals?: number
}
export interface ListResult {
  grants: GrantSummary[]
}
export interface RelockResult {
  removed: number
  remaining: number
}
export interface StopResult {
  stopping: true
}
export interface AuditResult {
  seq: number
}
export interface ResultOf {
  audit: AuditResult
  ping: PingResult
  put: PutResult
  get: GetResult
  list: ListResult
  relock: RelockResult
  stop: StopResult
}

export type ErrorCode = 'malformed' | 'version' | 'unknown-op' | 'invalid' | 'too-large' | 'busy' | 'internal'
export type Response<T = unknown> =
  | { v: typeof PROTOCOL_VERSION; id: RequestId | null; ok: true; result: T }
  | { v: typeof PROTOCOL_VERSION; id: RequestId | null; ok: false; error: { code: ErrorCode; message: string } }

// ---- parsing ----------------------------------------------------------------------------

export type ParsedFrame = { ok: true; request: Request } | { ok: false; id: RequestId | null; code: ErrorCode; message: string }

/** Parse and validate one frame (a line without its newline). Never throws. */
export function parseRequest(line: string): ParsedFrame {
  let raw: unknown
  try {
    raw = JSON.parse(line)
  } catch {
    return { ok: false, id: null, code: 'malformed', message: 'malformed frame: not json' }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, id: null, code: 'malformed', message: 'malformed frame: not a json object' }
  }
  const frame = raw as Record<string, unknown>
  const idCheck = v.safeParse(Id, frame.id)
  const id = idCheck.success ? idCheck.output : null
  if (frame.v !== PROTOCOL_VERSION) {
    return { ok: false, id, code: 'version', message: `unsupported protocol version, this daemon speaks v${PROTOCOL_VERSION}` }
  }
  if (typeof frame.op !== 'string' || !(OPS as readonly string[]).includes(frame.op)) {
    return { ok: false, id, code: 'unknown-op', message: 'unknown op' }
  }
  const parsed = v.safeParse(RequestSchema, frame)
  if (!parsed.success) {
    const issue = parsed.issues[0]
    const path = issue?.path?.map((item) => String(item.key)).join('.') || '(frame)'
    return { ok: false, id, code: 'invalid', message: `invalid ${frame.op} request at ${path}` }
  }
  return { ok: true, request: parsed.output }
}

export function okResponse<T>(id: RequestId, result: T): Response<T> {
  return { v: PROTOCOL_VERSION, id, ok: true, result }
}

export function errorResponse(id: RequestId | null, code: ErrorCode, message: string): Response<never> {
  return { v: PROTOCOL_VERSION, id, ok: false, error: { code, message } }
}
