/**
 * keyrack's version and build: build.ts defines these globals in the compiled binary; from source
 * (bun run, the SDK) they are absent.
 */
declare const KEYRACK_VERSION: string | undefined
declare const KEYRACK_COMMIT: string | undefined
declare const KEYRACK_TARGET: string | undefined
export const VERSION: string = typeof KEYRACK_VERSION === 'string' ? KEYRACK_VERSION : '0.0.0-dev'
export const COMMIT: string = typeof KEYRACK_COMMIT === 'string' ? KEYRACK_COMMIT : 'source'
export const TARGET: string = typeof KEYRACK_TARGET === 'string' ? KEYRACK_TARGET : `${process.platform}-${process.arch}`
/** `keyrack --version`: the version first (what scripts compare), then where it came from */
export const versionLine = (): string => `${VERSION} (commit ${COMMIT}, ${TARGET})`
