/**
 * The os.daemon building blocks (SPEC §10), for the CLI/SDK commands that use them.
 * Re-exports only; importing this loads no native library (dlopen happens on first use).
 *
 * @example unlock: start the owner's daemon if needed, then hand it grants over the socket
 * ```ts
 * const socketPath = resolveSocketPath({ env: ctx.env, uid: process.getuid!(), owner })
 * await ensureDaemon({ owner, socketPath, command: [process.execPath, '__daemon', '--owner', owner], env: ctx.env })
 * const conn = await connectDaemon({ socketPath })
 * if (!conn.ok) throw new KeyrackError(conn.message, { hint: [`keyrack unlock --owner ${owner}`] })
 * await conn.client.put(grants) // { slug, key, mech, vault, expiresAt, idleTimeoutMs? }[]
 * conn.client.close()
 * ```
 *
 * @example the hidden `keyrack __daemon --owner <owner>` subcommand
 * ```ts
 * const socketPath = resolveSocketPath({ env: process.env, uid: process.getuid!(), owner })
 * await daemonMain({ owner, socketPath }) // exits the process when the daemon closes
 * ```
 *
 * @example get / status / relock: a missing daemon is a result, not an exception
 * ```ts
 * const conn = await connectDaemon({ socketPath })
 * if (!conn.ok) return everythingLocked()
 * const { results } = await conn.client.get(slugs) // per slug: granted | missing | expired
 * ```
 */
export { connectDaemon, type ConnectOptions, type ConnectResult, type DaemonClient } from './client.ts'
export { GrantStore, type GrantStoreOptions } from './grant-store.ts'
export { hardenProcess, type HardenResult } from './harden.ts'
export {
  cleanDaemonEnv,
  DAEMON_ENV_ALLOWLIST,
  daemonMain,
  ensureDaemon,
  type DaemonMainOptions,
  type EnsureDaemonOptions,
  type EnsureDaemonResult,
} from './launch.ts'
export {
  OWNER_PATTERN,
  prepareSocketDir,
  prepareSocketPath,
  resolveSocketDir,
  resolveSocketPath,
  socketPathFor,
  verifySocketDir,
  type Env,
  type SocketLocationInput,
} from './paths.ts'
export { peerCred, peerUidOf, socketFd, type PeerCred } from './peercred.ts'
export {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  type GetResult,
  type GrantInput,
  type GrantSummary,
  type ListResult,
  type PingResult,
  type PutResult,
  type RelockResult,
  type SlugState,
  type StopResult,
} from './protocol.ts'
export { startDaemonServer, type CloseReason, type DaemonServer, type DaemonServerOptions } from './server.ts'
export { NO_SESSION, watchLoginSession, type SessionWatch } from './session.ts'
