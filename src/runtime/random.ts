/**
 * Random names for temp and aside files, from Web Crypto (global in Bun, Node and Deno): importing
 * node:crypto costs a compiled keyrack ~5 ms of start-up, which `get` must not pay.
 */
export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('')
}
