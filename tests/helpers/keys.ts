/**
 * The real key tools the identity tests drive: `ssh-keygen` for ssh keys, `age-keygen` for
 * backup keys, and the `age` CLI to prove that what keyrack wrote is plain age that anyone's
 * age can open (and that the wrong key cannot).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Sandbox } from './harness.ts'
import { missingTool, skipFor } from './skips.ts'

export const hasTools = !skipFor('tool', 'identity suites that drive age and ssh-keygen', missingTool('age', 'age-keygen', 'ssh-keygen'))

function run(cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: input ?? '', timeout: 30_000 })
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

/** `ssh-keygen -t <type>` in the sandbox's ~/.ssh; returns the private key path (public: + .pub) */
export function sshKeygen(box: Sandbox, name: string, options: { type?: string; passphrase?: string } = {}): string {
  const dir = join(box.home, '.ssh')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, name)
  const r = run('ssh-keygen', ['-q', '-t', options.type ?? 'ed25519', '-N', options.passphrase ?? '', '-C', `${name}@sandbox`, '-f', file])
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
  return file
}

/** `age-keygen -o <file>`; returns the identity file and its public key */
export function ageKeygen(box: Sandbox, name: string): { file: string; recipient: string } {
  const file = join(box.dir, name)
  const r = run('age-keygen', ['-o', file])
  if (r.code !== 0) throw new Error(`age-keygen failed: ${r.stderr}`)
  return { file, recipient: run('age-keygen', ['-y', file]).stdout.trim() }
}

/** `age -d -i <identity> <file>` with the real age CLI */
export function ageDecrypt(identity: string, file: string): { code: number; stdout: string; stderr: string } {
  return run('age', ['-d', '-i', identity, file])
}

/** `age -e -R <recipients file> -o <out>` with the real age CLI */
export function ageEncrypt(recipientsFile: string, plaintext: string, out: string): void {
  const r = run('age', ['-e', '-R', recipientsFile, '-o', out], plaintext)
  if (r.code !== 0) throw new Error(`age -e failed: ${r.stderr}`)
}

/** the owner's encrypted files: host manifest and os.secure files */
export function ownerFiles(box: Sandbox, owner = 'human'): string[] {
  const secureDir = join(box.keyrackHome, 'secure', owner)
  const secure = existsSync(secureDir) ? readdirSync(secureDir).filter((n) => n.endsWith('.age') && !n.startsWith('.')).map((n) => join(secureDir, n)) : []
  return [join(box.keyrackHome, `host.${owner}.yml.age`), ...secure.sort()]
}

/** every file's bytes, to prove a refused command changed nothing */
export function snapshot(files: string[]): Map<string, string> {
  return new Map(files.map((f) => [f, readFileSync(f).toString('base64')]))
}

/** dot-files left in a directory (an interrupted write's temp files) */
export function tempFilesIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.includes('.tmp-')) : []
}
