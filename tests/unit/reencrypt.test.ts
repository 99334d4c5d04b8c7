/**
 * The all-or-nothing re-encryption behind `keyrack recipients add|remove`, with failures injected
 * where the acceptance tests cannot reach: while writing the temp files, and between two renames.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createContext, type Context } from '../../src/context.ts'
import { decryptWith } from '../../src/identity/age-file.ts'
import { loadOwnerIdentity } from '../../src/identity/owner-identity.ts'
import { readHostManifest } from '../../src/manifests/host.ts'
import { addRecipients, listRecipients, removeRecipients } from '../../src/sdk/recipients.ts'
import { init } from '../../src/sdk/init.ts'
import { ownerEncryptedFiles, reencryptOwnerFiles, type ReencryptIo } from '../../src/sdk/reencrypt.ts'
import { osSecureVault } from '../../src/vaults/os.secure.ts'
import { set } from '../../src/sdk/set.ts'
import { removeFileIfExists, writeTempBeside } from '../../src/runtime/fs-atomic.ts'

let dir: string
let ctx: Context
const SECRETS = { ONE_KEY: 'first-secret', TWO_KEY: 'second-secret' }

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyrack-reencrypt-'))
  ctx = createContext({ home: join(dir, 'kr'), cwd: dir, env: { HOME: dir }, owner: 'robot' })
  await init(ctx, { passphrase: false })
  for (const [key, secret] of Object.entries(SECRETS))
    await set(ctx, { key, env: 'sudo', org: 'acme', vault: 'os.secure', mech: 'PERMANENT_VIA_REPLICA', secret })
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const files = () => [join(ctx.home, 'host.robot.yml.age'), ...osSecureVault.encryptedFiles(ctx)]
const bytes = () => files().map((f) => readFileSync(f).toString('base64'))
const temps = () => [ctx.home, join(ctx.home, 'secure', 'robot')].flatMap((d) => readdirSync(d).filter((n) => n.includes('.tmp-')))

async function backupKey(): Promise<{ identity: string; recipient: string }> {
  const { generateX25519Identity, identityToRecipient } = await import('age-encryption')
  const identity = await generateX25519Identity()
  return { identity, recipient: await identityToRecipient(identity) }
}

const realIo: ReencryptIo = { writeTemp: (t, d) => writeTempBeside(t, d), rename: renameSync, remove: (p) => void removeFileIfExists(p) }

test('a failure while writing the temps removes them and leaves every old file as it was', async () => {
  const identity = await loadOwnerIdentity(ctx)
  const manifest = await readHostManifest(ctx, identity)
  const backup = await backupKey()
  const before = bytes()
  let writes = 0
  const io: ReencryptIo = {
    ...realIo,
    writeTemp: (target, data) => {
      if (++writes === 3) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' })
      return realIo.writeTemp(target, data)
    },
  }
  await expect(reencryptOwnerFiles(ctx, identity, manifest, [...manifest.owner.recipients, backup.recipient], io)).rejects.toThrow(
    'could not write the re-encrypted files (ENOSPC); nothing was changed',
  )
  expect(writes).toBe(3)
  expect(bytes()).toEqual(before)
  expect(temps()).toEqual([])
})

test('a failure between two renames leaves every file decryptable by the owner, and a rerun finishes', async () => {
  const identity = await loadOwnerIdentity(ctx)
  const manifest = await readHostManifest(ctx, identity)
  const backup = await backupKey()
  let renames = 0
  const io: ReencryptIo = {
    ...realIo,
    rename: (from, to) => {
      if (++renames === 2) throw Object.assign(new Error('io error'), { code: 'EIO' })
      realIo.rename(from, to)
    },
  }
  await expect(reencryptOwnerFiles(ctx, identity, manifest, [...manifest.owner.recipients, backup.recipient], io)).rejects.toThrow(
    "re-encryption stopped after 1 of 3 files (EIO); every file still opens with the owner's key",
  )
  expect(temps()).toEqual([])
  const plain = await Promise.all(files().map((f) => decryptWith(identity, readFileSync(f), f)))
  expect(plain.slice(1).sort()).toEqual(Object.values(SECRETS).sort())
  // the host manifest (renamed last) still lists the old recipients
  expect((await listRecipients(ctx)).recipients).toHaveLength(1)

  const again = await addRecipients(ctx, { recipients: [backup.recipient] })
  expect(again.reencrypted).toHaveLength(3)
  for (const f of files()) expect(await decryptWith(backup.identity, readFileSync(f), f)).toBeString()
})

test('add then remove through the SDK: the backup opens everything, then nothing', async () => {
  const backup = await backupKey()
  const added = await addRecipients(ctx, { recipients: [backup.recipient] })
  expect(added.changed).toEqual([backup.recipient])
  expect(added.recipients.map((r) => r.own)).toEqual([true, false])
  const opened = await Promise.all((await ownerEncryptedFiles(ctx)).map((f) => decryptWith(backup.identity, readFileSync(f), f)))
  expect(opened.sort()).toEqual(Object.values(SECRETS).sort())

  const removed = await removeRecipients(ctx, { recipients: [backup.recipient] })
  expect(removed.recipients).toHaveLength(1)
  for (const f of files()) await expect(decryptWith(backup.identity, readFileSync(f), f)).rejects.toThrow('no identity matched')
})
