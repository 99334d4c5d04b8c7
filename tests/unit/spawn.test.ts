/** the spawn port (src/runtime/spawn.ts): PATH lookup, secrets on stdin, a timeout, a typed "not installed" */
import { expect, test } from 'bun:test'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KeyrackVaultError, KeyrackVaultUnavailableError } from '../../src/domain/errors.ts'
import { installHint, spawnTool } from '../../src/runtime/spawn.ts'
import { guardedSpawn } from '../fakes/ports.ts'

const TOOL = { name: 'keyrack-fake-tool', install: { linux: 'apt-get install keyrack-fake-tool', darwin: 'brew install keyrack-fake-tool' }, purpose: 'vault test.fake' }

function toolDir(script: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'keyrack-spawn-'))
  writeFileSync(join(dir, TOOL.name), `#!/bin/sh\n${script}\n`)
  chmodSync(join(dir, TOOL.name), 0o755)
  return dir
}

test('runs the tool found on the environment PATH; stdin carries the secret; code, stdout and stderr come back', async () => {
  const dir = toolDir('cat; echo "argc=$#" >&2; exit 3')
  try {
    const result = await spawnTool({ argv: [TOOL.name, 'one'], stdin: 'the secret\nline 2', tool: TOOL }, { PATH: `${dir}:${process.env.PATH}` })
    expect(result).toEqual({ code: 3, stdout: 'the secret\nline 2', stderr: 'argc=1\n' })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a tool that is not on PATH is KeyrackVaultUnavailableError with the install command for this platform', async () => {
  const error = await spawnTool({ argv: [TOOL.name], tool: TOOL }, { PATH: '/nonexistent' }).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(KeyrackVaultUnavailableError)
  expect((error as Error).message).toBe('keyrack-fake-tool is not installed (or not on PATH); keyrack needs it for vault test.fake')
  expect((error as KeyrackVaultUnavailableError).hint[0]).toBe(`install it: \`${installHint(TOOL)}\``)
})

test('a tool that hangs is stopped at the timeout, with a typed error', async () => {
  const dir = toolDir('sleep 30')
  try {
    const started = Date.now()
    const error = await spawnTool({ argv: [TOOL.name], tool: TOOL, timeoutMs: 300 }, { PATH: `${dir}:${process.env.PATH}` }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyrackVaultError)
    expect((error as Error).message).toContain('did not answer within')
    expect(Date.now() - started).toBeLessThan(10_000)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the test guard refuses a secret in argv before anything runs', async () => {
  const spawn = guardedSpawn({ PATH: '/nonexistent' }, () => ['planted-secret-9'])
  await expect(spawn({ argv: ['echo', '--password=planted-secret-9'] })).rejects.toThrow('a secret reached the argv of echo')
  expect(spawn.leaks).toHaveLength(1)
})
