/**
 * main.ts runs the lean commands (`get`, `exec`) without citty, with argv.ts's `parseArgv`. This
 * proves both read every argv the check accepts alike: for each lean command, argvs built from its
 * own flag table (every spelling: `--flag value`, `--flag=value`, `-o json`, `-ojson`, `--x`,
 * `--no-x`, `--x=false`, `--x=true`, combinations, what follows `--`) are parsed by both, and every
 * flag the command defines, and `_`, must come out the same.
 */
import { expect, test } from 'bun:test'
import { parseArgs, type ArgDef, type ArgsDef, type CommandDef } from 'citty'
import { argvRulesOf, aliasesOf, parseArgv } from '../../src/cli/argv.ts'
import { commands, LEAN_COMMANDS } from '../../src/cli/commands/index.ts'

/** argv fragments for one flag: each way of giving it */
function spellings(name: string, def: ArgDef): string[][] {
  if (def.type === 'boolean') return [[`--${name}`], [`--no-${name}`], [`--${name}=false`], [`--${name}=true`]]
  const value = name === 'passphrase-fd' ? '3' : 'json'
  const out = [[`--${name}`, value], [`--${name}=${value}`], [`--${name}`, '-'], [`--${name}`, '-5']]
  for (const alias of aliasesOf(def)) out.push(alias.length === 1 ? [`-${alias}`, value] : [`--${alias}`, value], ...(alias.length === 1 ? [[`-${alias}${value}`]] : []))
  return out
}

function argvsFor(args: ArgsDef, dashdash: boolean): string[][] {
  const flags = Object.entries(args).filter(([, d]) => d.type !== 'positional') as [string, ArgDef][]
  const argvs: string[][] = [[]]
  for (const [name, def] of flags) for (const s of spellings(name, def)) argvs.push(s)
  // pairs of different flags, in both orders
  for (const [a, da] of flags)
    for (const [b, db] of flags) if (a !== b) argvs.push([...spellings(a, da)[1]!, ...spellings(b, db)[0]!])
  // everything at once: the first spelling of each
  argvs.push(flags.flatMap(([n, d]) => spellings(n, d)[0]!))
  if (dashdash) for (const argv of [...argvs]) argvs.push([...argv, '--', 'npm', 'test', '--no-color', '-x', '--'])
  return argvs
}

for (const name of LEAN_COMMANDS) {
  test(`keyrack ${name}: parseArgv reads every accepted argv as citty does`, async () => {
    const cmd = (await commands[name]!()) as CommandDef<any>
    const args = (await cmd.args) as ArgsDef
    const rules = argvRulesOf(cmd) ?? {}
    // a lean command has no named positional argument: citty would name it, parseArgv does not
    expect(Object.values(args).filter((d) => d.type === 'positional')).toEqual([])
    let compared = 0
    for (const argv of argvsFor(args, Boolean(rules.dashdash))) {
      let ours
      try {
        ours = parseArgv(argv, args, `keyrack ${name}`, rules)
      } catch {
        continue // refused: main.ts hands it to citty's path, which reports it
      }
      const citty = parseArgs(argv, args) as Record<string, unknown>
      const pick = (parsed: Record<string, unknown>) => Object.fromEntries([...Object.keys(args), '_'].map((k) => [k, parsed[k]]))
      expect({ argv, parsed: pick(ours) }).toEqual({ argv, parsed: pick(citty) })
      compared++
    }
    expect(compared).toBeGreaterThan(50)
  })
}
