/**
 * Loaded before every test file (bunfig.toml [test] preload). Tests that call keyrack in-process
 * with process.env (the SDK's default environment) would otherwise resolve the daemon socket from
 * the runner's own XDG_RUNTIME_DIR — or, where it is unset (CI), from the machine-wide fallback
 * directory. Point it at a private directory of this test run instead, removed when the run ends.
 */
import { rmSync } from 'node:fs'
import { tempRuntimeDir } from './runtime-dir.ts'

const runtimeDir = tempRuntimeDir('keyrack-test-run-')
process.env.XDG_RUNTIME_DIR = runtimeDir
process.on('exit', () => rmSync(runtimeDir, { recursive: true, force: true }))
