/**
 * A fake macOS `security` (/usr/bin/security) for the os.keychain vault's macOS path: the subset
 * keyrack runs, with the real tool's contract as Apple's source has it (SecurityTool/macOS:
 * security.c, readline.c, keychain_add.c, keychain_find.c, keychain_unlock.c,
 * keychain_utilities.c):
 *
 *   security [-i] [-q] [command [opt …]]      -i: commands read from stdin, one per line, in a
 *                                            4096-byte buffer (a longer line is cut and its rest
 *                                            read as the next command); split_line's quoting
 *                                            ("…" and '…', backslash escapes); "CMD: returned N"
 *                                            on stderr for a failure (unless -q); the exit status
 *                                            is the last command's
 *   add-generic-password -a -s [-l -j -D -G] [-w pw | -X hex] [-U] [keychain]
 *   find-generic-password [-a -s -l -j -D -G] [-g | -w] [keychain…]
 *   delete-generic-password [-a -s -l -j -D -G] [keychain…]
 *   unlock-keychain [-u | -p password] [keychain]
 *   lock-keychain [-a | keychain]
 *   default-keychain
 *
 * Commands match by prefix in the real table's order; the exit status is the OSStatus's low byte
 * (44 not found, 45 duplicate, 36 user interaction not allowed, 51 wrong password, 128 user
 * cancelled), with the real error lines. A password is read back by `-g` as print_buffer prints
 * it (`"…"`, or `0x<HEX>` when a byte is not printable) and by `-w` raw or as lowercase hex.
 *
 * State (under $KEYRACK_FAKE_SECURITY_DIR): `keychain.json` — the login keychain: its path,
 * password, lock state and items (a stand-in for the encrypted keychain file, so tests leave it
 * out of their searches); `agent` — what the OS's unlock dialog (SecurityAgent) does: `allow` (the
 * user types the right password), `cancel`, or absent: no desktop session, so "user interaction
 * is not allowed"; `prompts.log` — one line per dialog shown; `calls.jsonl` — every call's argv
 * and, for -i, the command names it ran (never a line's content). A stored password or the
 * keychain password appearing in argv fails the call (exit 97) and is recorded as a leak.
 *
 * `installFakeSecurity(dir)` puts an executable `security` in `<dir>/bin` that runs this file with
 * the current Bun.
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface FakeItem {
  svce: string
  acct: string
  labl: string
  icmt?: string
  desc?: string
  gena?: string
  /** the password data, hex */
  data: string
  cdat: string
  mdat: string
}

interface KeychainState {
  path: string
  password: string
  locked: boolean
  items: FakeItem[]
}

export interface FakeSecurity {
  /** put first on PATH */
  binDir: string
  stateDir: string
  env: Record<string, string>
  calls(): { argv: string[]; commands?: string[]; leak?: true }[]
  /** the item's password as stored (decoded), or undefined */
  password(service: string, account: string): string | undefined
  items(): FakeItem[]
  lock(): void
  locked(): boolean
  /** what the OS's unlock dialog does from now on */
  agent(mode: 'allow' | 'cancel' | 'none'): void
  /** how many times the OS's unlock dialog was shown */
  prompts(): number
  /** no default keychain (a fresh account, a broken search list) */
  removeDefault(): void
}

export function installFakeSecurity(dir: string, { password = 'login-keychain-password' }: { password?: string } = {}): FakeSecurity {
  const binDir = join(dir, 'bin')
  const stateDir = join(dir, 'security-state')
  mkdirSync(binDir, { recursive: true })
  mkdirSync(stateDir, { recursive: true })
  const tool = join(binDir, 'security')
  writeFileSync(tool, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(import.meta.path)} "$@"\n`)
  chmodSync(tool, 0o755)
  const state: KeychainState = { path: join(dir, 'Library', 'Keychains', 'login.keychain-db'), password, locked: false, items: [] }
  writeFileSync(join(stateDir, 'keychain.json'), JSON.stringify(state))
  const read = () => readState(stateDir)!
  return {
    binDir,
    stateDir,
    env: { KEYRACK_FAKE_SECURITY_DIR: stateDir },
    calls: () => lines(join(stateDir, 'calls.jsonl')).map((line) => JSON.parse(line)),
    password: (service, account) => {
      const item = read().items.find((i) => i.svce === service && i.acct === account)
      return item ? Buffer.from(item.data, 'hex').toString('utf8') : undefined
    },
    items: () => read().items,
    lock: () => writeState(stateDir, { ...read(), locked: true }),
    locked: () => read().locked,
    agent: (mode) => writeFileSync(join(stateDir, 'agent'), mode),
    prompts: () => lines(join(stateDir, 'prompts.log')).length,
    removeDefault: () => writeFileSync(join(stateDir, 'no-default'), ''),
  }
}

const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])
const readState = (stateDir: string): KeychainState | null =>
  existsSync(join(stateDir, 'keychain.json')) ? (JSON.parse(readFileSync(join(stateDir, 'keychain.json'), 'utf8')) as KeychainState) : null
const writeState = (stateDir: string, state: KeychainState) => writeFileSync(join(stateDir, 'keychain.json'), JSON.stringify(state))

// ---- the tool ------------------------------------------------------------------------------

/** OSStatus values (SecBase.h) and the strings SecCopyErrorMessageString gives them */
const ERR = {
  itemNotFound: [-25300, 'The specified item could not be found in the keychain.'],
  duplicateItem: [-25299, 'The specified item already exists in the keychain.'],
  interactionNotAllowed: [-25308, 'User interaction is not allowed.'],
  authFailed: [-25293, 'The user name or passphrase you entered is not correct.'],
  userCanceled: [-128, 'User canceled the operation.'],
  noSuchKeychain: [-25294, 'The specified keychain could not be found.'],
  noDefaultKeychain: [-25307, 'A default keychain could not be found.'],
} as const satisfies Record<string, readonly [number, string]>

const USAGE = 2
const MAX_LINE_LEN = 4096
const MAX_ARGS = 32
/** isspace(3) in the C locale */
const C_SPACE = /[ \t\n\v\f\r]/

/** the real command table's order (prefix matching takes the first): ours, among the names around them */
const COMMANDS = [
  'help', 'list-keychains', 'list-smartcards', 'default-keychain', 'login-keychain', 'create-keychain', 'delete-keychain',
  'lock-keychain', 'unlock-keychain', 'set-keychain-settings', 'set-keychain-password', 'show-keychain-info', 'dump-keychain',
  'create-keypair', 'add-generic-password', 'add-internet-password', 'add-certificates', 'find-generic-password',
  'delete-generic-password', 'set-generic-password-partition-list', 'find-internet-password', 'delete-internet-password',
]

class Tool {
  out = ''
  err = ''
  constructor(
    private readonly stateDir: string,
    private readonly stdin: { next(max: number): string | null },
  ) {}

  private get state(): KeychainState {
    return readState(this.stateDir)!
  }
  private save(state: KeychainState) {
    writeState(this.stateDir, state)
  }
  private secError(message: string) {
    this.err += `security: ${message}\n`
  }

  /** the keychain must be open: the OS's dialog opens it, or says no */
  private requireUnlocked(): number {
    const state = this.state
    if (!state.locked) return 0
    const agentFile = join(this.stateDir, 'agent')
    const agent = existsSync(agentFile) ? readFileSync(agentFile, 'utf8').trim() : 'none'
    if (agent === 'none') return ERR.interactionNotAllowed[0]
    appendFileSync(join(this.stateDir, 'prompts.log'), `unlock ${state.path}\n`)
    if (agent === 'cancel') return ERR.userCanceled[0]
    this.save({ ...state, locked: false })
    return 0
  }

  private errorText(status: number): string {
    return Object.values(ERR).find(([code]) => code === status)?.[1] ?? `(OSStatus ${status})`
  }

  execute(argv: string[]): number {
    if (argv.length === 0) return 0
    const name = COMMANDS.find((c) => c.startsWith(argv[0]!))
    if (!name) {
      this.secError(`unknown command "${argv[0]}"`)
      return 1
    }
    const result = this.run(name, argv)
    if (result === USAGE) this.err += `Usage: ${name} …\n`
    return result
  }

  private run(name: string, argv: string[]): number {
    switch (name) {
      case 'add-generic-password':
        return this.add(argv)
      case 'find-generic-password':
        return this.find(argv)
      case 'delete-generic-password':
        return this.remove(argv)
      case 'unlock-keychain':
        return this.unlock(argv)
      case 'lock-keychain':
        this.save({ ...this.state, locked: true })
        return 0
      case 'default-keychain':
        if (existsSync(join(this.stateDir, 'no-default'))) {
          this.secError(`SecKeychainCopyDefault: ${ERR.noDefaultKeychain[1]}`)
          return ERR.noDefaultKeychain[0]
        }
        this.out += `    "${this.state.path}"\n`
        return 0
      default:
        this.err += `fake security: ${name} is not implemented\n`
        return 99
    }
  }

  /** the keychain arguments: only the default (login) keychain exists here */
  private keychainArgs(rest: string[]): number {
    for (const name of rest)
      if (name !== this.state.path && name !== 'login.keychain' && name !== 'login.keychain-db') {
        this.secError(`SecKeychainOpen ${name}: ${ERR.noSuchKeychain[1]}`)
        return ERR.noSuchKeychain[0]
      }
    return 0
  }

  private add(argv: string[]): number {
    const parsed = getopt(argv, ':a:c:C:D:G:j:l:s:p:w:X:UAT:h')
    if ('error' in parsed) {
      if (parsed.missing === 'w' || parsed.missing === 'p') {
        this.err += 'fake security: prompting for the password (-w as the last option) is not implemented\n'
        return 99
      }
      return USAGE
    }
    const o = parsed.options
    let data = ''
    for (const [flag, value] of parsed.list) {
      if (flag === 'w' || flag === 'p') data = Buffer.from(value!, 'utf8').toString('hex')
      if (flag === 'X') {
        const hex = value!.length % 2 ? `0${value}` : value!
        if (!/^[0-9a-fA-F]*$/.test(hex)) {
          this.secError('Unable to convert password data (-X must specify valid hex digits)')
          return USAGE
        }
        data = hex.toLowerCase()
      }
    }
    if (!o.a || !o.s || parsed.rest.length > 1) return USAGE
    const kc = this.keychainArgs(parsed.rest)
    if (kc) return kc
    const open = this.requireUnlocked()
    const state = this.state
    const now = timestamp()
    const existing = state.items.find((i) => i.svce === o.s && i.acct === o.a)
    if (existing && 'U' in o) {
      if (open) {
        this.secError(`SecKeychainItemModifyContent: ${this.errorText(open)}`)
        return open
      }
      Object.assign(existing, { data, mdat: now, ...(o.l ? { labl: o.l } : {}), ...(o.j ? { icmt: o.j } : {}), ...(o.D ? { desc: o.D } : {}), ...(o.G ? { gena: o.G } : {}) })
      this.save(state)
      return 0
    }
    const failed = open || (existing ? ERR.duplicateItem[0] : 0)
    if (failed) {
      this.secError(`SecKeychainItemCreateFromContent (<default>): ${this.errorText(failed)}`)
      return failed
    }
    state.items.push({ svce: o.s, acct: o.a, labl: o.l ?? o.s, ...(o.j ? { icmt: o.j } : {}), ...(o.D ? { desc: o.D } : {}), ...(o.G ? { gena: o.G } : {}), data, cdat: now, mdat: now })
    this.save(state)
    return 0
  }

  /** find_first_generic_password: the primary key (account + service) alone when both are given */
  private match(o: Record<string, string>): FakeItem | undefined {
    const primary = o.a !== undefined && o.s !== undefined
    return this.state.items.find(
      (i) =>
        (o.s === undefined || i.svce === o.s) &&
        (o.a === undefined || i.acct === o.a) &&
        (primary || ((o.l === undefined || i.labl === o.l) && (o.j === undefined || i.icmt === o.j) && (o.D === undefined || i.desc === o.D) && (o.G === undefined || i.gena === o.G))),
    )
  }

  /** find_first_generic_password over the options of find/delete: the item, or the status to return */
  private found(argv: string[], spec: string): { item: FakeItem; o: Record<string, string> } | number {
    const parsed = getopt(argv, spec)
    if ('error' in parsed) return USAGE
    const o = parsed.options
    const kc = this.keychainArgs(parsed.rest)
    if (kc) return kc
    const item = this.match(o)
    if (item) return { item, o }
    this.secError(`SecKeychainSearchCopyNext: ${ERR.itemNotFound[1]}`)
    return ERR.itemNotFound[0]
  }

  private find(argv: string[]): number {
    const found = this.found(argv, 'ha:c:C:D:G:j:l:s:wg')
    if (typeof found === 'number') return found
    const { item, o } = found
    if ('g' in o || 'w' in o) {
      // SecKeychainItemCopyContent: the data needs the keychain open; a failure is returned unsaid
      const open = this.requireUnlocked()
      if (open) return open
    }
    const bytes = Buffer.from(item.data, 'hex')
    if ('w' in o) {
      const hex = [...bytes].some((b) => b < 0x20 || b > 0x7e)
      this.out += `${hex ? bytes.toString('hex') : bytes.toString('latin1')}\n`
      return 0
    }
    this.out += attributes(this.state.path, item)
    if ('g' in o) this.err += `password: ${printBuffer(bytes)}\n`
    return 0
  }

  private remove(argv: string[]): number {
    const spec = 'ha:c:C:D:G:j:l:s:g'
    // with nothing to match on, the real tool prints its usage (it would delete the first item otherwise)
    const parsed = getopt(argv, spec)
    if ('error' in parsed || !['a', 's', 'l', 'j', 'D', 'G', 'c', 'C'].some((flag) => flag in parsed.options)) return USAGE
    const found = this.found(argv, spec)
    if (typeof found === 'number') return found
    const { item } = found
    this.out += attributes(this.state.path, item)
    const open = this.requireUnlocked()
    if (!open) {
      const state = this.state
      this.save({ ...state, items: state.items.filter((i) => !(i.svce === item.svce && i.acct === item.acct)) })
    }
    // said whatever SecKeychainItemDelete returned, as the real tool does
    this.err += 'password has been deleted.\n'
    return open
  }

  private unlock(argv: string[]): number {
    const parsed = getopt(argv, 'hp:u')
    if ('error' in parsed || parsed.rest.length > 1) return USAGE
    const kc = this.keychainArgs(parsed.rest)
    if (kc) return kc
    const o = parsed.options
    let status: number
    if ('u' in o && o.p === undefined) status = this.requireUnlocked()
    else {
      let password = o.p
      if (password === undefined) {
        // getpass: from the terminal, or stdin when there is none
        this.err += 'password to unlock default: '
        password = this.stdin.next(129) ?? undefined
        if (password === undefined) return -1
      }
      status = password === this.state.password ? 0 : ERR.authFailed[0]
      if (!status) this.save({ ...this.state, locked: false })
    }
    if (status) this.secError(`SecKeychainUnlock <NULL>: ${this.errorText(status)}`)
    return status
  }
}

/** getopt(3) as SecurityTool uses it: options until the first operand; a leading ':' reports a missing argument */
function getopt(argv: string[], spec: string): { options: Record<string, string>; list: [string, string | undefined][]; rest: string[] } | { error: true; missing?: string } {
  const options: Record<string, string> = {}
  const list: [string, string | undefined][] = []
  let i = 1
  for (; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      i++
      break
    }
    if (!arg.startsWith('-') || arg === '-') break
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j]!
      const at = spec.indexOf(flag)
      if (flag === ':' || at < 0) return { error: true }
      if (spec[at + 1] === ':') {
        const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i]
        if (value === undefined) return { error: true, missing: flag }
        options[flag] = value
        list.push([flag, value])
        break
      }
      options[flag] = ''
      list.push([flag, undefined])
    }
  }
  return { options, list, rest: argv.slice(i) }
}

/** split_line of security.c: whitespace-separated, "…" or '…' quoting, backslash escapes, at most 32 arguments */
export function splitLine(line: string): string[] {
  const args: string[] = []
  let state: 'ws' | 'arg' | 'argEsc' | 'quoted' | 'quotedEsc' = 'ws'
  let quote = ''
  let current = ''
  const finish = () => {
    args.push(current)
    current = ''
    state = 'ws'
  }
  for (const ch of line) {
    if (args.length >= MAX_ARGS) break
    if (state === 'ws') {
      if (C_SPACE.test(ch)) continue
      if (ch === '"' || ch === "'") {
        quote = ch
        state = 'quoted'
        continue
      }
      state = 'arg'
    }
    if (state === 'arg') {
      if (ch === '\\') state = 'argEsc'
      else if (C_SPACE.test(ch)) finish()
      else current += ch
      continue
    }
    if (state === 'argEsc') {
      current += ch
      state = 'arg'
      continue
    }
    if (state === 'quoted') {
      if (ch === '\\') state = 'quotedEsc'
      else if (ch === quote) finish()
      else current += ch
      continue
    }
    current += ch
    state = 'quoted'
  }
  if (state !== 'ws' && args.length < MAX_ARGS) args.push(current)
  return args
}

/** print_buffer of keychain_utilities.c */
function printBuffer(bytes: Buffer): string {
  const ascii = (b: number) => b >= 0x20 && b <= 0x7e && b !== 0x5c
  const anyAscii = [...bytes].some(ascii)
  const anyHex = [...bytes].some((b) => !ascii(b))
  let out = ''
  if (anyHex) out += `0x${bytes.toString('hex').toUpperCase()}${anyAscii ? '  ' : ' '}`
  if (anyAscii) out += `"${[...bytes].map((b) => (ascii(b) ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`)).join('')}"`
  return out
}

function attributes(path: string, item: FakeItem): string {
  const blob = (value: string | undefined) => (value === undefined ? '<NULL>' : printBuffer(Buffer.from(value, 'utf8')))
  const time = (value: string) => printBuffer(Buffer.concat([Buffer.from(value), Buffer.from([0])]))
  return [
    `keychain: "${path}"`,
    'version: 512',
    'class: "genp"',
    'attributes:',
    `    0x00000007 <blob>=${blob(item.labl)}`,
    '    0x00000008 <blob>=<NULL>',
    `    "acct"<blob>=${blob(item.acct)}`,
    `    "cdat"<timedate>=${time(item.cdat)}`,
    '    "crtr"<uint32>=<NULL>',
    '    "cusi"<sint32>=<NULL>',
    `    "desc"<blob>=${blob(item.desc)}`,
    `    "gena"<blob>=${blob(item.gena)}`,
    `    "icmt"<blob>=${blob(item.icmt)}`,
    '    "invi"<sint32>=<NULL>',
    `    "mdat"<timedate>=${time(item.mdat)}`,
    '    "nega"<sint32>=<NULL>',
    '    "prot"<blob>=<NULL>',
    '    "scrp"<sint32>=<NULL>',
    `    "svce"<blob>=${blob(item.svce)}`,
    '    "type"<uint32>=<NULL>',
    '',
  ].join('\n')
}

const timestamp = () => `${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`

/** stdin as readline() of readline.c sees it: lines of at most `max - 1` bytes */
function stdinReader(bytes: Buffer): { next(max: number): string | null } {
  let at = 0
  return {
    next(max) {
      if (at >= bytes.length) return null
      const start = at
      while (at < bytes.length && at - start < max - 1 && bytes[at] !== 0x0a) at++
      const line = bytes.subarray(start, at).toString('utf8')
      if (at < bytes.length && bytes[at] === 0x0a) at++
      return line
    },
  }
}

async function main(argv: string[]): Promise<number> {
  const stateDir = process.env.KEYRACK_FAKE_SECURITY_DIR
  if (!stateDir || !readState(stateDir)) {
    process.stderr.write('fake security: KEYRACK_FAKE_SECURITY_DIR is not set up\n')
    return 98
  }
  const state = readState(stateDir)!
  const secrets = [state.password, ...state.items.map((i) => Buffer.from(i.data, 'hex').toString('utf8'))].filter((s) => s.length >= 4)
  const leak = argv.some((arg) => secrets.some((s) => arg.includes(s)))
  const record: { argv: string[]; commands?: string[]; leak?: true } = { argv, ...(leak ? { leak: true as const } : {}) }
  if (leak) {
    appendFileSync(join(stateDir, 'calls.jsonl'), `${JSON.stringify({ argv: argv.map(() => '[withheld]'), leak: true })}\n`)
    process.stderr.write('fake security: a secret appeared in argv\n')
    return 97
  }
  const stdin = process.stdin.isTTY ? Buffer.alloc(0) : Buffer.from(await new Response(Bun.stdin.stream()).arrayBuffer())
  const input = stdinReader(stdin)
  const tool = new Tool(stateDir, input)
  let interactive = false
  let quiet = false
  let i = 0
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    for (const flag of argv[i]!.slice(1)) {
      if (flag === 'i') interactive = true
      else if (flag === 'q') quiet = true
      else {
        process.stderr.write(`security: illegal option -- ${flag}\n`)
        return USAGE
      }
    }
  }
  let result = 0
  if (i < argv.length) result = tool.execute(argv.slice(i))
  else if (interactive) {
    const commands: string[] = []
    for (;;) {
      const line = input.next(MAX_LINE_LEN)
      if (line === null) break
      const args = splitLine(line)
      commands.push(args[0] ?? '')
      result = tool.execute(args)
      if (result === -1) {
        result = 0
        break
      }
      if (result && !quiet) tool.err += `${args[0]}: returned ${result}\n`
    }
    record.commands = commands
  } else result = USAGE
  appendFileSync(join(stateDir, 'calls.jsonl'), `${JSON.stringify(record)}\n`)
  process.stdout.write(tool.out)
  process.stderr.write(tool.err)
  return result & 0xff
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)))
