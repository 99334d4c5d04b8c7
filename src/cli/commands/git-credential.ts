import { defineCommand } from 'citty'
import { KeyrackUsageError } from '../../domain/errors.ts'
import { formatCredential, gitCredential, parseCredentialRequest } from '../../sdk/git-credential.ts'
import { readStdin } from '../io.ts'
import { action, writeStdout } from '../report.ts'
import { cliContext, ownerArgs } from './_args.ts'

export default defineCommand({
  meta: {
    name: 'git-credential',
    description:
      "a git credential helper: the repo's GitHub token (a GitHub App token your daemon keeps fresh) for git push and fetch\n\n" +
      'git runs it as `keyrack git-credential get|store|erase` with the request on stdin. It answers `get` for https://github.com ' +
      "and the host of GITHUB_API_URL with the GITHUB_TOKEN key the repo's .agent/keyrack.yml allowlists, through `keyrack get` " +
      '(never unlocking: a human unlocks first); it says nothing for any other host or repo, and store/erase do nothing\n\n' +
      'examples:\n' +
      "  git config --global --add credential.https://github.com.helper ''\n" +
      "  git config --global --add credential.https://github.com.helper '!keyrack git-credential'\n" +
      "  git config credential.https://github.com.helper '!keyrack git-credential --env prep'   # one repo, another env",
  },
  args: {
    operation: { type: 'positional', description: 'what git asks: get, store or erase', valueHint: 'get|store|erase', required: false },
    key: { type: 'string', description: 'the key to serve (default GITHUB_TOKEN)', valueHint: 'KEY' },
    env: { type: 'string', description: 'the env whose allowlist serves it (default: the one env of the repo manifest that lists the key)', valueHint: 'env' },
    ...ownerArgs,
  },
  run: action(async (args) => {
    const operation = args.operation
    if (operation !== 'get' && operation !== 'store' && operation !== 'erase')
      throw new KeyrackUsageError('`git-credential` is run by git as `keyrack git-credential get|store|erase`', [
        "set it up: git config --global --add credential.https://github.com.helper '!keyrack git-credential'",
      ])
    // git writes the request and closes stdin: read it all, whatever the operation
    const request = parseCredentialRequest(await readStdin())
    // store/erase: the daemon owns the token's life; nothing to keep and nothing to forget
    if (operation !== 'get') return
    // in the audit log as the helper's, with git in the caller's chain
    const credential = await gitCredential({ ...cliContext(args), audit: { command: 'git-credential' } }, { request, ...(args.key ? { key: args.key } : {}), ...(args.env ? { env: args.env } : {}) })
    if (credential) await writeStdout(formatCredential(credential))
  }),
})
