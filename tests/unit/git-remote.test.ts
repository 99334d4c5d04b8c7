/** `init --repo` takes the org from the git remote's owner, in every URL form git accepts */
import { describe, expect, test } from 'bun:test'
import { ownerOfRemote } from '../../src/manifests/git-remote.ts'

describe('ownerOfRemote', () => {
  test.each([
    ['git@github.com:acme/widgets.git', 'acme'],
    ['git@github.com:acme/widgets', 'acme'],
    ['github.com:acme/widgets.git', 'acme'],
    ['https://github.com/acme/widgets', 'acme'],
    ['https://github.com/acme/widgets.git\n', 'acme'],
    ['https://x-access-token:ghs_abc@github.com/acme/widgets.git', 'acme'],
    ['ssh://git@github.com/acme/widgets.git', 'acme'],
    ['ssh://git@github.com:22/acme/widgets.git', 'acme'],
    ['git://github.com/acme/widgets.git', 'acme'],
    ['https://gitlab.com/acme/group/sub/widgets.git', 'acme'],
    ['git@github.com:Ehmpathy/keyrack.git', 'ehmpathy'],
  ])('%s → %s', (url, owner) => expect(ownerOfRemote(url)).toBe(owner))

  test.each([
    '/srv/git/widgets.git',
    '../widgets',
    'file:///srv/git/widgets.git',
    'git@github.com:widgets.git',
    'https://github.com/',
    'user@host:~/widgets.git',
    'not a url',
  ])('%s has no owner', (url) => expect(ownerOfRemote(url)).toBeUndefined())
})
