/**
 * A loopback stand-in for GitHub's release downloads and its releases API, with the same URL
 * contract the real ones have:
 *
 *   GET <base>[/<owner>/<repo>]/releases/download/<tag>/<asset>   an asset of release <tag>
 *   GET <base>[/<owner>/<repo>]/releases/latest/download/<asset>  an asset of the latest release
 *   GET <base>/api/repos/<owner>/<repo>/releases/latest           {"tag_name": …, "html_url": …}
 *
 * so install.sh gets `KEYRACK_RELEASE_URL=<base>/releases`, the Action `GITHUB_SERVER_URL=<base>`
 * (it asks <server>/<owner>/<repo>/releases/…, as on github.com) and keyrack `GITHUB_API_URL=<base>/api`.
 * Each release is a folder on disk (tests copy a built release and may tamper with it). Every
 * request is logged, so a test can tell which asset was fetched. Listens on 127.0.0.1 only.
 */
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'

export interface ReleaseServer {
  base: string
  /** `<base>/releases`: what install.sh's KEYRACK_RELEASE_URL takes */
  releasesUrl: string
  /** `<base>/api`: what GITHUB_API_URL takes */
  apiUrl: string
  /** request paths seen, in order */
  requests: string[]
  stop(): void
}

export function startReleaseServer(options: { releases: Record<string, string>; latest?: string }): ReleaseServer {
  const requests: string[] = []
  const serveFile = (dir: string | undefined, asset: string): Response => {
    if (!dir || asset.includes('/') || asset.startsWith('.')) return new Response('Not Found', { status: 404 })
    const file = join(dir, asset)
    if (!existsSync(file) || !statSync(file).isFile()) return new Response('Not Found', { status: 404 })
    return new Response(Bun.file(file))
  }
  const server: ReturnType<typeof Bun.serve> = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(request): Response {
      const path = decodeURIComponent(new URL(request.url).pathname)
      requests.push(path)
      let m = /^(?:\/[^/]+\/[^/]+)?\/releases\/download\/([^/]+)\/([^/]+)$/.exec(path)
      if (m) return serveFile(options.releases[m[1]!], m[2]!)
      m = /^(?:\/[^/]+\/[^/]+)?\/releases\/latest\/download\/([^/]+)$/.exec(path)
      if (m) return serveFile(options.latest ? options.releases[options.latest] : undefined, m[1]!)
      m = /^\/api\/repos\/([^/]+)\/([^/]+)\/releases\/latest$/.exec(path)
      if (m) {
        if (!options.latest) return Response.json({ message: 'Not Found' }, { status: 404 })
        return Response.json({ tag_name: options.latest, html_url: `${base}/releases/tag/${options.latest}`, draft: false, prerelease: false })
      }
      return new Response('Not Found', { status: 404 })
    },
  })
  const base: string = `http://127.0.0.1:${server.port}`
  return { base, releasesUrl: `${base}/releases`, apiUrl: `${base}/api`, requests, stop: () => server.stop(true) }
}
