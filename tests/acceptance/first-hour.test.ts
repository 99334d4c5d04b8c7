/**
 * The first hour of a new user (issue 9): no dead ends between the Quick start's commands, a
 * failing `source <(keyrack …)` that fails the shell too (bash and zsh, sourced and eval'd),
 * warnings that name the exact line to add, and typed errors for expected conditions.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ensureBinary, Sandbox } from '../helpers/harness.ts'
import { missingTool, skipFor } from '../helpers/skips.ts'

setDefaultTimeout(30_000)
beforeAll(ensureBinary, 120_000)

// zsh too, unless it is missing (a marker then tells CI, which installs it)
const SHELLS = ['bash', ...(skipFor('tool', 'source <(keyrack …) in zsh', missingTool('zsh')) ? [] : ['zsh'])]
const PASS = { 3: 'correct horse battery staple\n' }

describe('source <(keyrack …) fails when keyrack fails, so set -e stops', () => {
  const sb = new Sandbox('kr-source-status')
  beforeAll(() => {
    expect(sb.initUnprotected().code).toBe(0)
    sb.writeRepoManifest('org: acme\nenv.all:\n  - XAI_API_KEY\nenv.test: []\nenv.prod: []\n')
  })
  afterAll(() => sb.cleanup())

  // each form a user writes, in each shell; "$KEYRACK" is the binary under test
  const forms = {
    'source <(unlock)': 'source <("$KEYRACK" unlock --for repo --env test)',
    'eval "$(unlock)"': 'eval "$("$KEYRACK" unlock --for repo --env test)"',
    'source <(source)': 'source <("$KEYRACK" source --env test)',
    'eval "$(get)"': 'eval "$("$KEYRACK" get --for repo --env test)"',
  }

  for (const shell of SHELLS)
    for (const [name, line] of Object.entries(forms)) {
      test(`${shell}: ${name} of a key that is not set: the line fails with keyrack's code; set -e stops there`, () => {
        const plain = sb.sh(`${line}; echo "status=$?"`, { shell })
        expect(plain.stdout).toBe('status=4\n')
        const strict = sb.sh(`set -e; ${line}; echo reached`, { shell })
        expect(strict.code).toBe(4)
        expect(strict.stdout).toBe('')
      })
    }

  test.each(SHELLS)('%s: once the key is set, source <(unlock) succeeds and exports only the socket and owner', (shell) => {
    expect(sb.set('XAI_API_KEY', 'all', 'xai-first-hour-secret').code).toBe(0)
    const r = sb.sh(`set -e; source <("$KEYRACK" unlock --for repo --env test); echo "sock=\${KEYRACK_SOCK:+set} owner=$KEYRACK_OWNER"; "$KEYRACK" relock`, { shell })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('sock=set owner=human\n')
  })

})

describe('no dead ends between the Quick start commands', () => {
  const sb = new Sandbox('kr-quick-start')
  afterAll(() => sb.cleanup())

  test('init --repo (org from the remote) → set warns with the line to add → get/unlock of the empty env say so → add it → unlock → exec', () => {
    expect(sb.initUnprotected().code).toBe(0)
    spawnSync('git', ['remote', 'add', 'origin', 'https://github.com/acme/widgets'], { cwd: sb.repo })
    expect(sb.run(['init', '--repo']).code).toBe(0)

    const set = sb.set('XAI_API_KEY', 'all', 'xai-quick-start')
    expect(set.code).toBe(0)
    expect(set.stderr).toContain('keyrack: warning: stored, but XAI_API_KEY is not allowlisted for env all by .agent/keyrack.yml:7')
    expect(set.stderr).toContain('add the line `  - XAI_API_KEY` under `env.all:` (in place of its `[]`)')

    const get = sb.run(['get', '--for', 'repo', '--env', 'test'])
    expect(get).toMatchObject({ code: 0, stdout: '' })
    expect(get.stderr).toContain('env test allowlists no keys in .agent/keyrack.yml, so there is nothing to get')
    const unlock = sb.run(['unlock', '--for', 'repo', '--env', 'test'])
    expect(unlock.code).toBe(3)
    expect(unlock.stderr).toContain('list the keys this repo needs under `env.test:` (or `env.all:`)')

    // the edit the warning asked for
    const file = join(sb.repo, '.agent', 'keyrack.yml')
    const text = require('node:fs').readFileSync(file, 'utf8') as string
    require('node:fs').writeFileSync(file, text.replace('env.all: []', 'env.all:\n  - XAI_API_KEY'))
    expect(sb.set('XAI_API_KEY', 'all', 'xai-quick-start').stderr).not.toContain('warning')
    const exec = sb.run(['exec', '--for', 'repo', '--env', 'test', '--', 'sh', '-c', 'printf %s "$XAI_API_KEY"'])
    expect(exec).toMatchObject({ code: 0, stdout: 'xai-quick-start' })
  })

  test('init --repo with no remote and no --org, on a terminal: asks for the org (again until it is a valid name)', () => {
    const python = Bun.which('python3')
    if (skipFor('tool', 'init --repo asks for the org (python3 pty)', missingTool('python3')) || !python) return
    const other = new Sandbox('kr-init-ask')
    try {
      const spec = {
        argv: [BIN, 'init', '--repo'], cwd: other.repo, env: other.env(), timeout: 20, columns: 100,
        // an invalid name first, then a valid one once keyrack asks again
        answers: [
          { prompt: 'not a valid org name[^\\n]*\\n[^\\n]*which org[^\\n]*:', send: 'acme\r', once: true },
          { prompt: 'which org[^\\n]*:', send: 'Not An Org!\r', once: true },
        ],
      }
      const r = spawnSync(python, [join(import.meta.dir, '..', 'doc', 'terminal.py'), JSON.stringify(spec)], { encoding: 'utf8', timeout: 30_000 })
      const out = JSON.parse(r.stdout) as { code: number; out: string }
      expect(out.code).toBe(0)
      expect(out.out).toContain('org acme (as typed)')
      expect(readFileSync(join(other.repo, '.agent', 'keyrack.yml'), 'utf8')).toContain('org: acme')
    } finally {
      other.cleanup()
    }
  })

  test('set into an env the manifest does not declare, or a near-miss key name: stored, with the fix and "did you mean"', () => {
    const undeclared = sb.set('XAI_API_KEY', 'staging', 'xai-staging')
    expect(undeclared.code).toBe(0)
    expect(undeclared.stderr).toContain('env staging is not declared in .agent/keyrack.yml')
    expect(undeclared.stderr).toContain('add the section `env.staging:` with the line `  - XAI_API_KEY`')
    const typo = sb.set('XAI_APIKEY', 'test', 'xai-typo')
    expect(typo.code).toBe(0)
    expect(typo.stderr).toContain('(did you mean XAI_API_KEY?)')
    const get = sb.run(['get', '--key', 'XAI_APIKEY', '--env', 'test'])
    expect(get.code).toBe(3)
    expect(get.stderr).toContain('keyrack: hint: did you mean `--key XAI_API_KEY`?')
  })

  test('relock --key K --env test forgets K when it is stored under env.all; del names the --env all command, which works', () => {
    expect(sb.run(['unlock', '--for', 'repo', '--env', 'test']).code).toBe(0)
    const relock = sb.run(['relock', '--key', 'XAI_API_KEY', '--env', 'test'])
    expect(relock.stderr).toContain('relocked 1 key')
    const del = sb.run(['del', '--key', 'XAI_API_KEY', '--env', 'test'])
    expect(del.code).toBe(4)
    expect(del.stderr).toContain('keyrack: hint: XAI_API_KEY is stored for every env (acme.all.XAI_API_KEY): `keyrack del --key XAI_API_KEY --env all`')
    expect(sb.run(['del', '--key', 'XAI_API_KEY', '--env', 'all']).code).toBe(0)
  })

  test('outside a repo, the hint\'s commands are ones keyrack accepts there', () => {
    const outside = join(sb.dir, 'elsewhere')
    mkdirSync(outside, { recursive: true })
    const r = sb.run(['get', '--for', 'repo', '--env', 'test'], { cwd: outside })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('`keyrack get --key KEY --env sudo --org ORG` or `keyrack get --key KEY --env ENV --org @all`')
    // filled in, they are refused only because nothing is stored, never as not allowlisted
    for (const args of [['get', '--key', 'AWS_ADMIN', '--env', 'sudo', '--org', 'acme'], ['get', '--key', 'GH_TOKEN', '--env', 'test', '--org', '@all']])
      expect(sb.run(args, { cwd: outside }).code).toBe(4)
  })
})

describe('expected conditions are typed errors with their documented exit codes', () => {
  const sb = new Sandbox('kr-typed-errors')
  beforeAll(() => {
    expect(sb.run(['init', '--passphrase-fd', '3'], { fds: PASS }).code).toBe(0)
    sb.writeRepoManifest('org: acme\nenv.test:\n  - XAI_API_KEY\n')
  })
  afterAll(() => sb.cleanup())

  test('a --passphrase-fd that is not open: exit 2 naming it, never "unexpected"', () => {
    const r = sb.run(['set', '--key', 'XAI_API_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '7'], { input: 'xai-x' })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('`--passphrase-fd 7`: file descriptor 7 is not open')
    expect(r.stderr).toContain('`--passphrase-fd 7 7<~/.config/keyrack-passphrase`')
    expect(r.stderr).not.toContain('unexpected')
  })

  test('$GITHUB_ENV in a directory that does not exist: exit 2 before any key is looked up', () => {
    const r = sb.run(['get', '--for', 'repo', '--env', 'test', '--ci', '--output', 'github-env'], { env: { GITHUB_ENV: join(sb.dir, 'gone', 'env'), XAI_API_KEY: 'xai-ci' } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('which is not a directory that exists')
  })

  test('an unsafe socket directory is exit 9 (the machine), not exit 1', () => {
    const loose = join(sb.dir, 'loose')
    mkdirSync(loose, { mode: 0o777 })
    require('node:fs').chmodSync(loose, 0o777)
    expect(sb.run(['set', '--key', 'XAI_API_KEY', '--env', 'test', '--vault', 'os.secure', '--mech', 'PERMANENT_VIA_REPLICA', '--secret-stdin', '--passphrase-fd', '3'], { fds: PASS, input: 'xai-typed' }).code).toBe(0)
    const r = sb.run(['unlock', '--for', 'repo', '--env', 'test', '--passphrase-fd', '3'], { fds: PASS, env: { KEYRACK_SOCK: join(loose, 'human.sock') } })
    expect(r.code).toBe(9)
    expect(r.stderr).not.toContain('unexpected')
  })

  test('with stdin carrying the secret, the passphrase is asked on the terminal (and only when stderr shows one)', () => {
    const python = Bun.which('python3')
    if (skipFor('tool', 'the passphrase prompt on the controlling terminal (python3 pty)', missingTool('python3')) || !python) return
    // a shell on a pty pipes the secret in, as a user types `printf %s "$KEY" | keyrack set … --secret-stdin`
    const script = [
      'import os, pty, sys, time, select',
      'pid, fd = pty.fork()',
      'if pid == 0:',
      "    os.execvpe('sh', ['sh', '-c', sys.argv[1]], dict(os.environ))",
      "out, sent = b'', False",
      'deadline = time.time() + 20',
      'while time.time() < deadline:',
      '    r, _, _ = select.select([fd], [], [], 0.1)',
      '    if r:',
      '        try: chunk = os.read(fd, 4096)',
      '        except OSError: break',
      '        if not chunk: break',
      '        out += chunk',
      "    if not sent and b'passphrase' in out and out.rstrip().endswith(b':'):",
      "        os.write(fd, sys.argv[2].encode() + b'\\r'); sent = True",
      '_, status = os.waitpid(pid, 0)',
      "sys.stdout.write(out.decode('utf8', 'replace') + '\\nEXIT=' + str(os.waitstatus_to_exitcode(status)))",
    ].join('\n')
    const cmd = `printf %s xai-from-a-pipe | "${BIN}" set --key XAI_API_KEY --env test --vault os.secure --mech PERMANENT_VIA_REPLICA --secret-stdin`
    const r = spawnSync(python, ['-c', script, cmd, PASS[3].trim()], { cwd: sb.repo, env: sb.env(), encoding: 'utf8', timeout: 30_000 })
    expect(r.stdout).toContain('passphrase')
    expect(r.stdout).toContain('round trip verified')
    expect(r.stdout).toContain('EXIT=0')
    expect(r.stdout).not.toContain(PASS[3].trim())
    // the same with stderr captured (an agent, a script): no prompt, the locked error instead
    const captured = sb.sh(`printf %s xai-x | "$KEYRACK" set --key XAI_API_KEY --env test --vault os.secure --mech PERMANENT_VIA_REPLICA --secret-stdin`)
    expect(captured.code).toBe(4)
  })
})
