/**
 * The AWS SDK stays off the `get` path: no module imports an `@aws-sdk/*` package statically (only
 * `import()` inside the functions that talk to AWS), so loading a vault or mech adapter — which a
 * daemon-served `get` never even does — evaluates none of it. bench/run.ts measures the effect.
 */
import { expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'

const SRC = resolve(import.meta.dir, '..', '..', 'src')
const files = readdirSync(SRC, { recursive: true, withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith('.ts'))
  .map((d) => join(d.parentPath, d.name))

test('no static import of an @aws-sdk package anywhere in src/', () => {
  const statics = files.flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?\sfrom\s+'(@aws-sdk\/[^']+)'/gm)].map((m) => `${relative(SRC, f)} → ${m[1]}`),
  )
  expect(statics).toEqual([])
})

test('the AWS SDK is imported lazily by the AWS modules only', () => {
  const lazy = files.filter((f) => /import\(\s*'@aws-sdk\//.test(readFileSync(f, 'utf8'))).map((f) => relative(SRC, f)).sort()
  expect(lazy).toEqual(['aws/clients.ts', 'vaults/aws.params.ts'])
})
