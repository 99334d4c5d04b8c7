/**
 * The one path by which a get result reaches the user, shared by `get` and `source` (and, for
 * the masks, `exec`), so that what they emit on GitHub Actions cannot drift apart again: masks
 * first, so no later line can show a secret; then warnings; then the keys, in the format asked for.
 */
import { isGithubActions } from '../ci/github-actions.ts'
import type { Env } from '../context.ts'
import type { GetResult } from '../sdk/get.ts'
import { renderGet, renderMasks, shellQuote, writeGithubEnv, type OutputFormat } from './render.ts'
import { noteEmptyEnv } from './commands/_args.ts'
import { say, warn, writeStdout } from './report.ts'

/**
 * Where the runner will see `::add-mask::` lines for a given output. When stdout carries the keys
 * it is usually captured (`eval "$(keyrack get …)"`, `X=$(… --output value)`), so a plain mask line
 * would never reach the runner (and eval would run it as a command): exports carry the masks as
 * shell code that echoes them; json and value send them to stderr, which the runner reads for
 * workflow commands too; anything else (a table, github-env, exec's child output) takes them raw.
 */
export type MaskChannel = 'shell' | 'stderr' | 'stdout'
export const maskChannel = (format: OutputFormat): MaskChannel =>
  format === 'exports' ? 'shell' : format === 'json' || format === 'value' ? 'stderr' : 'stdout'

/** on GitHub Actions, one `::add-mask::` per granted secret line, through `channel`; elsewhere nothing */
export async function writeMasks(env: Env, result: GetResult, channel: MaskChannel): Promise<void> {
  if (!isGithubActions(env)) return
  const masks = renderMasks(result)
  if (channel === 'shell') await writeStdout(masks.split('\n').filter(Boolean).map((line) => `printf '%s\\n' ${shellQuote(line)}\n`).join(''))
  else if (channel === 'stderr') process.stderr.write(masks)
  else await writeStdout(masks)
}

export interface EmitOptions {
  /** `--output github-env`: the file (`$GITHUB_ENV`) the keys are appended to */
  readonly envFile?: string
  /** a `--for repo` get: an env that allowlists nothing is said so on stderr */
  readonly forRepo: boolean
}

/**
 * `get` and `source`: masks, warnings, then the keys on stdout — or, with `--output github-env`,
 * appended to the file `envFile` (`$GITHUB_ENV`) with a one-line summary on stderr. The output is
 * rendered before anything is written: output that cannot be rendered prints nothing at all.
 */
export async function emitGetResult(env: Env, result: GetResult, format: OutputFormat, { envFile, forRepo }: EmitOptions): Promise<void> {
  const toGithubEnv = format === 'github-env' && envFile !== undefined
  const rendered = toGithubEnv ? '' : renderGet(result, format)
  await writeMasks(env, result, maskChannel(format))
  for (const line of result.warnings) warn(line)
  noteEmptyEnv(result, forRepo)
  if (!toGithubEnv) return writeStdout(rendered)
  const { appended, unchanged } = await writeGithubEnv(result, envFile)
  say(`$GITHUB_ENV: ${appended.length} key${appended.length === 1 ? '' : 's'} added${appended.length ? ` (${appended.join(', ')})` : ''}, ${unchanged.length} already there`)
}
