/**
 * `defineCommand` without loading citty: citty's is the identity function, but importing it
 * evaluates citty and node:util (~3 ms of CPU at every start). Commands on the lean path (main.ts
 * runs them without citty) define themselves with this one; the type is citty's.
 */
import type { ArgsDef, CommandDef } from 'citty'

export const defineCommand = <const T extends ArgsDef = ArgsDef>(def: CommandDef<T>): CommandDef<T> => def
