/**
 * Credential material an agent's tool call must not read directly, and what to use instead. One
 * table of rules over absolute, normalised paths; the guard resolves every path a tool call names
 * (src/guard/check.ts) and asks `protectedBy`.
 */
import { basename, join } from 'node:path'

export interface ProtectedRule {
  id: string
  /** what the material is, for the reason shown to the agent */
  what: string
  /** the allowed alternative, named in the reason */
  instead: string
  /** does this absolute, normalised path fall under the rule? */
  covers(path: string): boolean
  /**
   * fixed locations of the rule (files or directories): a recursive reader (grep -r, tar, cp -r)
   * given a directory above one of them reads it too
   */
  roots: string[]
}

export interface ProtectedSet {
  rules: ProtectedRule[]
  /** the first rule covering the path, or null */
  protectedBy(path: string): ProtectedRule | null
  /** the first rule with a root at or below this directory, or null (for recursive readers) */
  containedIn(dir: string): ProtectedRule | null
  /** concrete paths to test patterns with unknown parts against (`cat $X/.aws/credentials`) */
  samples(): string[]
}

const EXEC = '`keyrack exec --for repo --env <env> -- <command>` (the command gets the keys in its environment, its output redacted) or the `keyrack_exec` MCP tool'

const under = (root: string) => (path: string) => path === root || path.startsWith(`${root}/`)

/** .env, .envrc, .env.local, .env.production, … but not the templates meant to be read */
export function isDotEnv(path: string): boolean {
  const name = basename(path)
  if (name !== '.env' && name !== '.envrc' && !/^\.env[._-]/.test(name)) return false
  return !/^\.env[._-](example|sample|template|dist)$/i.test(name)
}

export interface ProtectedOptions {
  /** the user's home directory */
  home: string
  /** the keyrack home (KEYRACK_HOME or ~/.rhachet/keyrack) */
  keyrackHome: string
  /** where keyrack's daemon sockets live */
  socketDirs: string[]
  env: Record<string, string | undefined>
}

export function protectedSet(options: ProtectedOptions): ProtectedSet {
  const { home, env } = options
  const aws = env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials')
  const ghDir = env.GH_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(home, '.config'), 'gh')
  const ssh = join(home, '.ssh')
  const rules: ProtectedRule[] = [
    {
      id: 'keyrack-home',
      what: "keyrack's own files (the keyrack home: identities, vaults, the audit log)",
      instead: `use \`keyrack status\` to see what is unlocked, and ${EXEC}`,
      covers: under(options.keyrackHome),
      roots: [options.keyrackHome],
    },
    {
      id: 'keyrack-socket',
      what: "keyrack's daemon socket",
      instead: `use ${EXEC}; \`keyrack status\` shows the daemon`,
      covers: (p) => options.socketDirs.some((d) => under(d)(p)),
      roots: options.socketDirs,
    },
    {
      id: 'aws-credentials',
      what: 'AWS credentials (static keys, the SSO token cache, cached role credentials)',
      instead: `use ${EXEC}`,
      covers: (p) => p === aws || under(join(home, '.aws', 'sso', 'cache'))(p) || under(join(home, '.aws', 'cli', 'cache'))(p),
      roots: [aws, join(home, '.aws', 'sso', 'cache'), join(home, '.aws', 'cli', 'cache')],
    },
    {
      id: 'gh-hosts',
      what: "the GitHub CLI's tokens (gh hosts.yml)",
      instead: `use ${EXEC}`,
      covers: (p) => p === join(ghDir, 'hosts.yml'),
      roots: [join(ghDir, 'hosts.yml')],
    },
    {
      id: 'git-credentials',
      what: 'stored git and netrc credentials',
      instead: `use ${EXEC}`,
      covers: (p) => p === join(home, '.git-credentials') || p === join(home, '.netrc'),
      roots: [join(home, '.git-credentials'), join(home, '.netrc')],
    },
    {
      id: 'ssh-keys',
      what: 'ssh private keys (one may open keyrack\'s identity)',
      instead: `let ssh and git use them through ssh-agent; run a command that needs keys with ${EXEC}`,
      covers: (p) => p.startsWith(`${ssh}/`) && /^id_/.test(basename(p)) && !p.endsWith('.pub'),
      roots: [ssh],
    },
    {
      id: 'proc-environ',
      what: "another process's environment (/proc/<pid>/environ), where granted keys live",
      instead: `use ${EXEC}`,
      covers: (p) => /^\/proc\/[^/]+(\/task\/[^/]+)?\/environ$/.test(p),
      roots: [],
    },
    {
      id: 'dotenv',
      what: 'a .env file (secrets in plain text)',
      instead: `list the keys in .agent/keyrack.yml and use ${EXEC}`,
      covers: isDotEnv,
      roots: [],
    },
  ]
  return {
    rules,
    protectedBy: (path) => rules.find((r) => r.covers(path)) ?? null,
    containedIn: (dir) => rules.find((r) => r.roots.some((root) => root === dir || root.startsWith(dir === '/' ? '/' : `${dir}/`))) ?? null,
    samples: () => [...rules.flatMap((r) => r.roots), '/proc/self/environ', `/proc/${process.ppid}/environ`, '/proc/1/environ'],
  }
}
