/**
 * A fake `op` (1Password CLI 2) for the `1password` vault: the subset keyrack runs, with the real
 * tool's contract — its documented flags, its JSON shapes (`op item get --format json`) and its
 * error lines (`[ERROR] YYYY/MM/DD HH:MM:SS …`, exit 1), as recorded from op 2.x:
 *
 *   op whoami [--format json]             the account; signed out: "account is not signed in"
 *   op signin [--raw] [--account A]       asks for the account password on the terminal (stdin when
 *                                         it is a TTY, else /dev/tty, else a piped line, as op does)
 *                                         and prints `export OP_SESSION_<user id>="<token>"` with op's
 *                                         three comment lines (--raw: the token only). With the
 *                                         desktop-app integration on (`app` in the state) it asks
 *                                         nothing, prints nothing and authorizes the app instead
 *   op signout [--account A] [--forget]   ends the session in OP_SESSION_<user id>
 *   op read [--no-newline|-n] <ref>       op://vault/item[/section]/field, names or ids
 *   op item create [--vault V] [--format json] [--title T] [--category C] [--tags a,b] [-]
 *                                         `-`: the item's JSON template on stdin (how a secret may
 *                                         arrive); assignment statements (field=value) in argv work
 *                                         too, as in op — and fail the leak check when they carry one
 *   op item get <item> [--vault V] [--format json]
 *   op item delete <item> [--vault V] [--archive]
 *
 * Signed in means: the desktop app authorized (`app.authorized`), or OP_SESSION_<user id> holds a
 * live session token. Sessions end after 30 minutes idle (op's rule; `sessionIdleSeconds`) or,
 * for tests, after `usesLeft` more authenticated calls (`expireAfter(n)`), or at once (`expireSessions()`).
 *
 * Every call is recorded (argv, and whether stdin carried data — never the data) in calls.jsonl
 * under $KEYRACK_FAKE_OP_DIR (default: the state dir installFakeOp made). A secret must never reach argv: if any argument contains a stored
 * concealed value, the account password or a live session token, the call fails (exit 97) and
 * leaks.jsonl says so; so does the account password found in the environment.
 *
 * `installFakeOp(dir)` puts an executable `op` in `<dir>/bin` that runs this file with the
 * current Bun, and returns a handle to seed and inspect the fake's state.
 */
import { appendFileSync, chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import tty from 'node:tty'

export interface FakeOpField {
  id: string
  type: 'STRING' | 'CONCEALED'
  purpose?: 'USERNAME' | 'PASSWORD' | 'NOTES'
  label: string
  value?: string
  section?: { id: string; label?: string }
}
export interface FakeOpItem {
  id: string
  title: string
  version: number
  vault: { id: string; name: string }
  category: string
  tags?: string[]
  created_at: string
  updated_at: string
  fields: FakeOpField[]
  sections?: { id: string; label?: string }[]
}
export interface FakeOpState {
  account: { url: string; email: string; user_uuid: string; account_uuid: string; shorthand: string }
  password: string
  /** the desktop-app integration: signin asks nothing and authorizes the app (for the terminal session) */
  app?: { authorized: boolean }
  sessions: Record<string, { lastUsed: number; usesLeft?: number }>
  sessionIdleSeconds: number
  vaults: { id: string; name: string }[]
  items: FakeOpItem[]
  /** how many times `op signin` succeeded */
  signins: number
}
export interface FakeOpCall {
  argv: string[]
  stdin: boolean
}

export interface FakeOp {
  /** put first on PATH */
  binDir: string
  stateDir: string
  /** KEYRACK_FAKE_OP_DIR */
  env: Record<string, string>
  /** the account password `op signin` asks for */
  password: string
  /** the name of the variable `op signin` exports, OP_SESSION_<user id> */
  sessionVar: string
  state(): FakeOpState
  calls(): FakeOpCall[]
  leaks(): string[]
  /** an item as 1Password holds it; returns its id */
  addItem(input: { vault: string; title: string; fields: Record<string, string>; tags?: string[] }): string
  /** changes a field's value, as editing the item in 1Password would */
  setField(itemId: string, field: string, value: string): void
  /** the concealed value at a reference, as `op read` would answer (undefined: none) */
  read(reference: string): string | undefined
  /** a session the test opened itself, as `eval "$(op signin)"` would: the env to run with */
  signIn(): Record<string, string>
  /** every live session token ends now */
  expireSessions(): void
  /** every live session ends after n more authenticated calls */
  expireAfter(n: number): void
  /** turn the desktop-app integration on (signin authorizes the app, prints no token) */
  useApp(authorized?: boolean): void
  /** the number of `op` calls of this command (`read`, `signin`, `item create`, …) */
  count(command: string): number
}

const USER_UUID = 'A3BCDEFGHIJKLMNOPQRSTUVWXY'
/** the account password `op signin` asks for, unless installFakeOp is given another */
export const FAKE_OP_PASSWORD = 'correct horse battery staple 1P'
const ITEM_ID_CHARS = 'abcdefghijklmnopqrstuvwxyz234567'

export function installFakeOp(dir: string, options: { vaults?: string[]; password?: string } = {}): FakeOp {
  const binDir = join(dir, 'bin')
  const stateDir = join(dir, 'op-state')
  mkdirSync(binDir, { recursive: true })
  mkdirSync(stateDir, { recursive: true })
  const op = join(binDir, 'op')
  // its state dir unless the environment names another; Bun's transpiler cache next to it, not in
  // the user's (sandbox) HOME
  writeFileSync(
    op,
    `#!/bin/sh\nKEYRACK_FAKE_OP_DIR="\${KEYRACK_FAKE_OP_DIR:-${stateDir}}" BUN_RUNTIME_TRANSPILER_CACHE_PATH=${JSON.stringify(join(stateDir, '.bun-cache'))} exec ${JSON.stringify(process.execPath)} ${JSON.stringify(import.meta.path)} "$@"\n`,
  )
  chmodSync(op, 0o755)
  const password = options.password ?? FAKE_OP_PASSWORD
  const state: FakeOpState = {
    account: { url: 'https://keyrack-test.1password.com', email: 'dev@keyrack.test', user_uuid: USER_UUID, account_uuid: 'GRXJAN4BY5DPROISKYL55IRCPY', shorthand: 'keyrack-test' },
    password,
    sessions: {},
    sessionIdleSeconds: 30 * 60,
    vaults: (options.vaults ?? ['Private', 'Dev', 'Shared']).map((name) => ({ id: randomId(), name })),
    items: [],
    signins: 0,
  }
  writeState(stateDir, state)
  const edit = (change: (s: FakeOpState) => void) => withState(stateDir, change)
  return {
    binDir,
    stateDir,
    env: { KEYRACK_FAKE_OP_DIR: stateDir },
    password,
    sessionVar: `OP_SESSION_${USER_UUID}`,
    state: () => readState(stateDir),
    calls: () => readLines(join(stateDir, 'calls.jsonl')).map((line) => JSON.parse(line) as FakeOpCall),
    leaks: () => readLines(join(stateDir, 'leaks.jsonl')).map((line) => JSON.parse(line) as string),
    addItem({ vault, title, fields, tags }) {
      let id = ''
      edit((s) => {
        const v = s.vaults.find((x) => x.name === vault)
        if (!v) throw new Error(`fake op: no vault ${vault}`)
        const item = newItem(v, { title, category: 'API_CREDENTIAL', tags, fields: Object.entries(fields).map(([label, value]) => ({ id: label, type: 'CONCEALED' as const, label, value })) })
        s.items.push(item)
        id = item.id
      })
      return id
    },
    setField(itemId, field, value) {
      edit((s) => {
        const target = s.items.find((i) => i.id === itemId)?.fields.find((f) => f.id === field)
        if (!target) throw new Error(`fake op: no field ${field} on item ${itemId}`)
        target.value = value
      })
    },
    read(reference) {
      const found = resolveReference(readState(stateDir), reference)
      return 'field' in found ? found.field.value : undefined
    },
    signIn() {
      const token = randomToken()
      edit((s) => void (s.sessions[token] = { lastUsed: Date.now() }))
      return { [`OP_SESSION_${USER_UUID}`]: token }
    },
    expireSessions: () => edit((s) => void (s.sessions = {})),
    expireAfter: (n) => edit((s) => void Object.values(s.sessions).forEach((session) => (session.usesLeft = n))),
    useApp: (authorized = false) => edit((s) => void (s.app = { authorized })),
    count(command) {
      const words = command.split(' ')
      return this.calls().filter((c) => commandWords(c.argv).slice(0, words.length).join(' ') === command).length
    },
  }
}

// ---------------------------------------------------------------- state (a file, locked)

const readLines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])
const readState = (dir: string): FakeOpState => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as FakeOpState
function writeState(dir: string, state: FakeOpState): void {
  const tmp = join(dir, `.state.${process.pid}.tmp`)
  writeFileSync(tmp, JSON.stringify(state, null, 2))
  renameSync(tmp, join(dir, 'state.json'))
}
/** read-modify-write under a lock directory: concurrent `op read`s each refresh their session */
function withState<T>(dir: string, change: (state: FakeOpState) => T): T {
  const lock = join(dir, '.lock')
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      if (Date.now() > deadline) throw new Error('fake op: state lock held for 10 s')
      Bun.sleepSync(2)
    }
  }
  try {
    const state = readState(dir)
    const result = change(state)
    writeState(dir, state)
    return result
  } finally {
    rmdirSync(lock)
  }
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(26))
  return Array.from(bytes, (b) => ITEM_ID_CHARS[b % 32]).join('')
}
function randomToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url').slice(0, 43)
}
const isoNow = (): string => new Date().toISOString()

function newItem(vault: { id: string; name: string }, input: { title: string; category: string; tags?: string[]; fields: FakeOpField[] }): FakeOpItem {
  const now = isoNow()
  return { id: randomId(), title: input.title, version: 1, vault: { ...vault }, category: input.category, ...(input.tags?.length ? { tags: input.tags } : {}), created_at: now, updated_at: now, fields: input.fields }
}

/** the item JSON op prints: each field with its secret reference (by names, as op writes them) */
function itemJson(item: FakeOpItem): unknown {
  return {
    ...item,
    fields: item.fields.map((f) => ({ ...f, reference: `op://${item.vault.name}/${item.title}/${f.section?.label ? `${f.section.label}/` : ''}${f.label}` })),
  }
}

// ---------------------------------------------------------------- references and lookups

type Lookup = { error: string } | { item: FakeOpItem; vault: { id: string; name: string } }

function findVault(state: FakeOpState, name: string): { id: string; name: string } | undefined {
  return state.vaults.find((v) => v.id === name) ?? state.vaults.find((v) => v.name.toLowerCase() === name.toLowerCase())
}

function findItem(state: FakeOpState, item: string, vaultName?: string): Lookup {
  let pool = state.items
  let vault: { id: string; name: string } | undefined
  if (vaultName !== undefined) {
    vault = findVault(state, vaultName)
    if (!vault) return { error: `"${vaultName}" isn't a vault in this account. Specify the vault with its ID or name.` }
    pool = pool.filter((i) => i.vault.id === vault!.id)
  }
  const byId = pool.find((i) => i.id === item)
  if (byId) return { item: byId, vault: byId.vault }
  const byTitle = pool.filter((i) => i.title.toLowerCase() === item.toLowerCase())
  if (byTitle.length > 1)
    return { error: `More than one item matches "${item}". Try again and specify the item by its ID: \n${byTitle.map((i) => `\t* for the item "${i.title}" in vault ${i.vault.name}: ${i.id}`).join('\n')}` }
  if (byTitle.length === 1) return { item: byTitle[0]!, vault: byTitle[0]!.vault }
  return { error: vault ? `"${item}" isn't an item in the "${vaultName}" vault. Specify the item with its UUID, name, or domain.` : `"${item}" isn't an item. Specify the item with its UUID, name, or domain.` }
}

function resolveReference(state: FakeOpState, reference: string): { error: string } | { field: FakeOpField } {
  if (!reference.startsWith('op://')) return { error: `invalid secret reference '${reference}': secret references must start with 'op://'` }
  if (reference.includes('?')) return { error: `invalid secret reference '${reference}': this fake op does not read query parameters` }
  const parts = reference.slice('op://'.length).split('/')
  if (parts.length < 3) return { error: `invalid secret reference '${reference}': too few '/': secret references should match op://<vault>/<item>[/<section>]/<field>` }
  if (parts.length > 4) return { error: `invalid secret reference '${reference}': too many '/': secret references should match op://<vault>/<item>[/<section>]/<field>` }
  if (parts.some((p) => p === '')) return { error: `invalid secret reference '${reference}': empty path segment` }
  const [vaultName, itemName] = parts as [string, string]
  const found = findItem(state, itemName, vaultName)
  if ('error' in found) return { error: `could not get item ${vaultName}/${itemName}: ${found.error}` }
  const fieldName = parts[parts.length - 1]!
  const section = parts.length === 4 ? parts[2]! : undefined
  const field = found.item.fields.find(
    (f) => (f.id === fieldName || f.label.toLowerCase() === fieldName.toLowerCase()) && (section === undefined || f.section?.id === section || f.section?.label?.toLowerCase() === section.toLowerCase()),
  )
  if (!field) return { error: `item '${vaultName}/${itemName}' does not have a field '${fieldName}'` }
  return { field }
}

// ---------------------------------------------------------------- the command line

const GLOBAL_VALUE_FLAGS = ['account', 'format', 'session', 'config', 'encoding']
const GLOBAL_BOOL_FLAGS = ['debug', 'iso-timestamps', 'no-color', 'cache']
const COMMANDS: Record<string, { value: string[]; bool: string[]; short?: Record<string, string> }> = {
  whoami: { value: [], bool: [] },
  signin: { value: [], bool: ['raw', 'force'], short: { f: 'force' } },
  signout: { value: [], bool: ['all', 'forget'] },
  read: { value: ['out-file', 'file-mode'], bool: ['no-newline', 'force'], short: { n: 'no-newline', o: 'out-file', f: 'force' } },
  'item create': { value: ['vault', 'title', 'category', 'tags', 'url', 'template', 'generate-password'], bool: ['dry-run', 'favorite'] },
  'item get': { value: ['vault', 'fields'], bool: ['reveal', 'otp', 'share-link', 'include-archive'] },
  'item delete': { value: ['vault'], bool: ['archive'] },
}

/** the command words of an argv (`item create`), skipping global flags */
function commandWords(argv: string[]): string[] {
  const words: string[] = []
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const arg = argv[i]!
    if (arg.startsWith('--')) {
      if (GLOBAL_VALUE_FLAGS.includes(arg.slice(2)) && !arg.includes('=')) i++
      continue
    }
    words.push(arg)
    if (arg !== 'item') break
  }
  return words
}

interface Parsed {
  command: string
  flags: Record<string, string | true>
  positional: string[]
}

function parse(argv: string[]): Parsed | { error: string } {
  const words = commandWords(argv)
  const command = words.join(' ')
  const spec = COMMANDS[command]
  if (!spec) return { error: `unknown command "${words[words.length - 1] ?? ''}" for "op${words.length > 1 ? ` ${words[0]}` : ''}"` }
  const flags: Record<string, string | true> = {}
  const positional: string[] = []
  let skipped = 0
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (skipped < words.length && arg === words[skipped]) {
      skipped++
      continue
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positional.push(arg)
      continue
    }
    const [rawName, inline] = arg.startsWith('--') ? (arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]) : [spec.short?.[arg.slice(1)] ?? `?${arg}`, undefined]
    const name = rawName
    if (spec.bool.includes(name) || GLOBAL_BOOL_FLAGS.includes(name)) flags[name] = true
    else if (spec.value.includes(name) || GLOBAL_VALUE_FLAGS.includes(name)) flags[name] = inline ?? argv[++i] ?? ''
    else return { error: `unknown flag: ${arg.split('=')[0]}` }
  }
  return { command, flags, positional }
}

// ---------------------------------------------------------------- main

let stateDir = ''

function stamp(): string {
  const d = new Date()
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}
function fail(message: string, code = 1): number {
  process.stderr.write(`[ERROR] ${stamp()} ${message}\n`)
  return code
}

async function main(argv: string[]): Promise<number> {
  stateDir = process.env.KEYRACK_FAKE_OP_DIR ?? ''
  if (!stateDir) {
    process.stderr.write('fake op: KEYRACK_FAKE_OP_DIR is not set\n')
    return 98
  }
  const parsed = parse(argv)
  // stdin is read only by the commands that take it (item create -), as op does
  const wantsStdin = !('error' in parsed) && parsed.command === 'item create' && parsed.positional[0] === '-'
  const stdin = wantsStdin && !process.stdin.isTTY ? await new Response(Bun.stdin.stream()).text() : ''
  appendFileSync(join(stateDir, 'calls.jsonl'), `${JSON.stringify({ argv, stdin: stdin.length > 0 })}\n`)

  const leak = leakCheck(readState(stateDir), argv)
  if (leak) {
    appendFileSync(join(stateDir, 'leaks.jsonl'), `${JSON.stringify(leak)}\n`)
    process.stderr.write(`fake op: ${leak}\n`)
    return 97
  }
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write('2.30.3\n')
    return 0
  }
  if ('error' in parsed) return fail(parsed.error)
  const { command, flags, positional } = parsed
  const json = flags.format === 'json'

  if (command === 'signin') return signin(flags)
  if (command === 'signout') {
    const token = process.env[`OP_SESSION_${readState(stateDir).account.user_uuid}`]
    withState(stateDir, (s) => void (token && delete s.sessions[token]))
    return 0
  }
  if (!authenticate()) {
    if (command === 'whoami') return fail('account is not signed in')
    const notSignedIn = 'You are not currently signed in. Please run `op signin --help` for instructions'
    if (command === 'read') return fail(`could not read secret '${positional[0] ?? ''}': error initializing client: ${notSignedIn}`)
    return fail(notSignedIn)
  }
  const state = readState(stateDir)
  switch (command) {
    case 'whoami': {
      const { url, email, user_uuid, account_uuid } = state.account
      if (json) process.stdout.write(`${JSON.stringify({ url, email, user_uuid, account_uuid, user_type: 'HUMAN' }, null, 2)}\n`)
      else process.stdout.write(`URL:        ${url}\nEmail:      ${email}\nUser ID:    ${user_uuid}\nUser Type:  HUMAN\n`)
      return 0
    }
    case 'read': {
      const reference = positional[0]
      if (!reference || positional.length > 1) return fail(`expected 1 argument, got ${positional.length}`)
      const found = resolveReference(state, reference)
      if ('error' in found) return fail(`could not read secret '${reference}': ${found.error}`)
      process.stdout.write(`${found.field.value ?? ''}${flags['no-newline'] ? '' : '\n'}`)
      return 0
    }
    case 'item create':
      return itemCreate(flags, positional, stdin, json)
    case 'item get': {
      const name = positional[0]
      if (!name) return fail('expected an item name or ID')
      const found = findItem(state, name, flags.vault as string | undefined)
      if ('error' in found) return fail(found.error)
      process.stdout.write(json ? `${JSON.stringify(itemJson(found.item), null, 2)}\n` : `ID:          ${found.item.id}\nTitle:       ${found.item.title}\nVault:       ${found.item.vault.name} (${found.item.vault.id})\n`)
      return 0
    }
    case 'item delete': {
      const name = positional[0]
      if (!name) return fail('expected an item name or ID')
      return withState(stateDir, (s) => {
        const found = findItem(s, name, flags.vault as string | undefined)
        if ('error' in found) return fail(found.error)
        s.items = s.items.filter((i) => i.id !== found.item.id)
        return 0
      })
    }
  }
  return fail(`unknown command "${command}"`)
}

/** a secret in argv fails the call: a stored concealed value, the account password, a live session token */
function leakCheck(state: FakeOpState, argv: string[]): string | null {
  const secrets: [string, string][] = [[state.password, 'the account password']]
  for (const item of state.items) for (const f of item.fields) if (f.type === 'CONCEALED' && f.value && f.value.length >= 6) secrets.push([f.value, `the value of ${item.title}/${f.label}`])
  for (const token of Object.keys(state.sessions)) secrets.push([token, 'a session token'])
  for (const arg of argv) for (const [secret, what] of secrets) if (arg.includes(secret)) return `${what} appeared in argv`
  for (const [name, value] of Object.entries(process.env)) if (value && value.includes(state.password)) return `the account password appeared in the environment (${name})`
  return null
}

/** signed in now (and the session refreshed), by the app or a live OP_SESSION_<user id> */
function authenticate(): boolean {
  return withState(stateDir, (s) => {
    if (s.app?.authorized) return true
    const token = process.env[`OP_SESSION_${s.account.user_uuid}`]
    const session = token ? s.sessions[token] : undefined
    if (!token || !session) return false
    const idle = Date.now() - session.lastUsed > s.sessionIdleSeconds * 1000
    if (idle || session.usesLeft === 0) {
      delete s.sessions[token]
      return false
    }
    session.lastUsed = Date.now()
    if (session.usesLeft !== undefined) session.usesLeft--
    return true
  })
}

async function signin(flags: Record<string, string | true>): Promise<number> {
  const state = readState(stateDir)
  if (state.app) {
    // the desktop app shows its own authorization prompt; the CLI prints nothing
    withState(stateDir, (s) => {
      s.app = { authorized: true }
      s.signins++
    })
    return 0
  }
  const host = new URL(state.account.url).host
  const password = await readPassword(`Enter the password for ${state.account.email} at ${host}: `)
  if (password === null) return fail('cannot prompt for the password: no terminal and nothing on standard input')
  if (password !== state.password) return fail('Authentication: (401) Unauthorized: You aren\'t authorized to perform this action.')
  const token = randomToken()
  withState(stateDir, (s) => {
    s.sessions[token] = { lastUsed: Date.now() }
    s.signins++
  })
  const name = `OP_SESSION_${state.account.user_uuid}`
  if (flags.raw) process.stdout.write(`${token}\n`)
  else
    process.stdout.write(
      `export ${name}="${token}"\n# This command is meant to be used with your shell's eval function.\n# Run 'eval $(op signin)' to sign in to your 1Password account.\n# Use the --raw flag to only output the session token.\n`,
    )
  return 0
}

/** a line typed on the terminal without echo (stdin when it is one, else /dev/tty), or piped on stdin */
async function readPassword(prompt: string): Promise<string | null> {
  let fd: number | null = null
  if (process.stdin.isTTY) fd = 0
  else {
    try {
      fd = openSync('/dev/tty', 'r+')
    } catch {
      fd = null
    }
  }
  if (fd === null) {
    const piped = process.stdin.isTTY ? '' : await new Response(Bun.stdin.stream()).text()
    return piped ? piped.replace(/\r?\n$/, '') : null
  }
  const stream = new tty.ReadStream(fd)
  stream.setRawMode(true)
  process.stderr.write(prompt)
  let line = ''
  const buf = Buffer.alloc(1)
  try {
    for (;;) {
      let n = 0
      try {
        n = readSync(fd, buf, 0, 1, null)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          Bun.sleepSync(10)
          continue
        }
        throw error
      }
      if (n === 0) break
      const ch = buf.toString('utf8')
      if (ch === '\r' || ch === '\n') break
      if (ch === '\u0003') return null
      if (ch === '\u007f') line = line.slice(0, -1)
      else line += ch
    }
  } finally {
    stream.setRawMode(false)
    if (fd !== 0) closeSync(fd)
    process.stderr.write('\n')
  }
  return line
}

function itemCreate(flags: Record<string, string | true>, positional: string[], stdin: string, json: boolean): number {
  const piped = positional[0] === '-'
  if (piped && flags.template) return fail("you can't use both piping and the '--template' flag in the same command")
  let template: Partial<FakeOpItem> & { fields?: Partial<FakeOpField>[] } = {}
  if (piped) {
    try {
      template = JSON.parse(stdin)
    } catch {
      return fail('invalid JSON item template on standard input')
    }
  } else if (typeof flags.template === 'string') {
    try {
      template = JSON.parse(readFileSync(flags.template, 'utf8'))
    } catch {
      return fail(`could not read the template file ${flags.template}`)
    }
  }
  const fields: FakeOpField[] = (template.fields ?? []).map((f, i) => ({
    id: f.id || `field${i}`,
    type: f.type === 'CONCEALED' ? 'CONCEALED' : 'STRING',
    ...(f.purpose ? { purpose: f.purpose } : {}),
    label: f.label || f.id || `field${i}`,
    ...(f.value !== undefined ? { value: f.value } : {}),
  }))
  // assignment statements: [<section>.]<field>[[<type>]]=<value>, as op takes them (and logs them in the shell history)
  for (const assignment of positional.slice(piped ? 1 : 0)) {
    const m = /^([^=[]+)(?:\[(\w+)\])?=(.*)$/s.exec(assignment)
    if (!m) return fail(`invalid assignment statement: ${assignment.split('=')[0]}`)
    fields.push({ id: m[1]!, type: m[2] === 'password' || m[2] === 'concealed' ? 'CONCEALED' : 'STRING', label: m[1]!, value: m[3]! })
  }
  return withState(stateDir, (s) => {
    const vault = typeof flags.vault === 'string' ? findVault(s, flags.vault) : s.vaults[0]
    if (!vault) return fail(`"${flags.vault}" isn't a vault in this account. Specify the vault with its ID or name.`)
    const category = String(flags.category ?? template.category ?? 'LOGIN').toUpperCase().replace(/\s+/g, '_')
    const title = String(flags.title ?? template.title ?? `Untitled ${category.toLowerCase()} item`)
    const tags = typeof flags.tags === 'string' ? flags.tags.split(',').filter(Boolean) : (template.tags ?? [])
    const item = newItem(vault, { title, category, tags, fields })
    s.items.push(item)
    process.stdout.write(json ? `${JSON.stringify(itemJson(item), null, 2)}\n` : `ID:          ${item.id}\nTitle:       ${item.title}\nVault:       ${vault.name} (${vault.id})\n`)
    return 0
  })
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)))
