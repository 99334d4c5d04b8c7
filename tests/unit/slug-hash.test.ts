/**
 * slugHash names every os.secure file and every inventory entry, so it must never change: on Bun
 * it is Bun's native SHA-256 (faster at start-up), elsewhere noble's — both must be sha256 hex.
 */
import { expect, test } from 'bun:test'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import { slugHash } from '../../src/manifests/inventory.ts'

test('slugHash is the sha256 hex of the slug (ASCII, dots, unicode, empty)', () => {
  for (const slug of ['ehmpathy.test.XAI_API_KEY', 'acme.all.aws.profile', 'org.prod.KEY_ü€😀', ''])
    expect(slugHash(slug)).toBe(bytesToHex(sha256(utf8ToBytes(slug))))
  // a known vector, so the test fails if both sides ever changed together
  expect(slugHash('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
})
