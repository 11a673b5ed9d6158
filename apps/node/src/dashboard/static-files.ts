// The dashboard's built page (ui/, built by Vite into dist/ui) as static files: index.html, which
// is never cached, and content-hashed assets, cached for a year. Nothing is fetched from a CDN.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Asset names as Vite writes them: no slashes, no `..`. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/**
 * Where the built page is: `dist/ui` beside the compiled server (`dist/dashboard/..`), or, when
 * the node runs from its sources (tsx, tests), `dist/ui` of the package.
 */
export function defaultUiDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'ui'), join(here, '..', '..', 'dist', 'ui')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[1] ?? here;
}

export interface StaticFile {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // The page talks to this node and, when it goes away, to its peers (other origins).
  'content-security-policy':
    "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
};

/** Reads `index.html` or `assets/<name>`; undefined when it does not exist. */
export async function readUiFile(
  directory: string,
  name: { asset: string } | 'index',
): Promise<StaticFile | undefined> {
  if (name !== 'index' && !ASSET_NAME.test(name.asset)) return undefined;
  const path =
    name === 'index' ? join(directory, 'index.html') : join(directory, 'assets', name.asset);
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch {
    return undefined;
  }
  const type = CONTENT_TYPES[extname(path)] ?? 'application/octet-stream';
  const cache = name === 'index' ? 'no-cache' : 'public, max-age=31536000, immutable';
  return { body, headers: { 'content-type': type, 'cache-control': cache, ...SECURITY_HEADERS } };
}
