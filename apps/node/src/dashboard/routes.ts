// The dashboard's routes on a node's Hono app:
//   GET /ui, /ui/           the page (static, public: it holds no data and asks for the token)
//   GET /ui/assets/<file>   its scripts and styles
//   GET /ui/api/node        this node's /status and timeline (what peers' dashboards fetch)
//   GET /ui/api/cluster     one ClusterSnapshot, fetched now
//   GET /ui/events          server-sent events: `snapshot` (a ClusterSnapshot) on every change
// The data routes need the client token when one is configured (`Authorization: Bearer`, or
// `?token=` on /ui/events for EventSource, which cannot send headers). They answer any origin
// (CORS `*`, no credentials), so a page can follow the cluster to another node when its own
// node goes away.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { DashboardHub } from './hub.js';
import type { ClusterSnapshot } from './snapshot.js';
import { readUiFile } from './static-files.js';

/** Snapshots written to a slow page but not yet flushed; past this, snapshots are skipped. */
export const SSE_PENDING_WRITES_MAX = 4;
/** Pages watching one node at once; more are answered 503 UNAVAILABLE. */
export const DEFAULT_WATCHERS_MAX = 64;
/** A comment line that keeps proxies from closing an idle stream. */
export const SSE_KEEPALIVE_MS = 2500;

/** What the routes use of the hub. */
export type DashboardSource = Pick<
  DashboardHub,
  'localView' | 'snapshot' | 'watch' | 'useLocalRequests' | 'watchers'
>;

export interface DashboardRoutesOptions {
  readonly hub: DashboardSource;
  readonly token: string | undefined;
  /** Where the built page is (dist/ui). */
  readonly uiDirectory: string;
  /** Event streams open at once (DEFAULT_WATCHERS_MAX). */
  readonly watchersMax?: number;
}

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-max-age': '600',
};

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function unauthorized(): Response {
  return new Response(
    JSON.stringify({
      error: { code: 'UNAUTHORIZED', message: 'expected Authorization: Bearer <token>' },
    }),
    { status: 401, headers: { 'content-type': 'application/json', ...CORS_HEADERS } },
  );
}

/** A check of the client token: true when auth is off or the request carries the token. */
function tokenCheck(token: string | undefined): (c: Context, allowQuery: boolean) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(`Bearer ${token}`);
  return (c, allowQuery) => {
    const query = allowQuery ? c.req.query('token') : undefined;
    const header = query === undefined ? (c.req.header('authorization') ?? '') : `Bearer ${query}`;
    return timingSafeEqual(digest(header), expected);
  };
}

function mountStatic(app: Hono, uiDirectory: string): void {
  const notBuilt = (c: Context): Response =>
    c.text(
      'The dashboard is not built: run `pnpm --filter @distsync/node build` (it builds ui/ into dist/ui).',
      503,
    );
  app.get('/ui', (c) => c.redirect('/ui/', 308));
  app.get('/ui/', async (c) => {
    const file = await readUiFile(uiDirectory, 'index');
    if (file === undefined) return notBuilt(c);
    return new Response(new Uint8Array(file.body), { headers: file.headers });
  });
  app.get('/ui/assets/:name', async (c) => {
    const file = await readUiFile(uiDirectory, { asset: c.req.param('name') });
    if (file === undefined) return c.text('not found', 404);
    return new Response(new Uint8Array(file.body), { headers: file.headers });
  });
}

function streamSnapshots(c: Context, hub: DashboardSource): Response {
  for (const [name, value] of Object.entries(CORS_HEADERS)) c.header(name, value);
  c.header('cache-control', 'no-store');
  return streamSSE(c, async (stream) => {
    let pending = 0;
    let end: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    const send = (snapshot: ClusterSnapshot): void => {
      // A page that cannot keep up misses snapshots, never memory: the next one has it all.
      if (pending >= SSE_PENDING_WRITES_MAX) return;
      pending += 1;
      void stream
        .writeSSE({ event: 'snapshot', data: JSON.stringify(snapshot) })
        .finally(() => (pending -= 1));
    };
    const unwatch = hub.watch({ snapshot: send, close: end });
    stream.onAbort(end);
    const keepalive = setInterval(() => void stream.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    try {
      await ended;
    } finally {
      clearInterval(keepalive);
      unwatch();
    }
  });
}

/** Mounts the page and its data routes (before the /v1 routes and the not-found handler). */
export function mountDashboard(app: Hono, options: DashboardRoutesOptions): void {
  const { hub } = options;
  const authorized = tokenCheck(options.token);
  // The hub reads the services' lists through this same app (every route is mounted by the time
  // a page watches), with the token the routes expect.
  const headers: Record<string, string> =
    options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
  hub.useLocalRequests(async (path) => {
    const response = await app.request(path, { headers });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: response.status, body };
  });
  mountStatic(app, options.uiDirectory);
  // Preflights of cross-origin requests carry no token: they are answered before any auth.
  for (const path of ['/ui/api/*', '/ui/events', '/v1/cluster/*']) {
    app.options(path, () => new Response(null, { status: 204, headers: CORS_HEADERS }));
  }
  // The page posts its actions to the node it follows, which may be another origin by then.
  app.use('/v1/cluster/*', async (c, next) => {
    await next();
    c.res.headers.set('access-control-allow-origin', '*');
  });
  app.get('/ui/api/node', (c) => {
    if (!authorized(c, false)) return unauthorized();
    return c.json(hub.localView(), 200, CORS_HEADERS);
  });
  app.get('/ui/api/cluster', async (c) => {
    if (!authorized(c, false)) return unauthorized();
    return c.json(await hub.snapshot(), 200, CORS_HEADERS);
  });
  const watchersMax = options.watchersMax ?? DEFAULT_WATCHERS_MAX;
  app.get('/ui/events', (c) => {
    if (!authorized(c, true)) return unauthorized();
    if (hub.watchers >= watchersMax) {
      return c.json(
        {
          error: {
            code: 'UNAVAILABLE',
            message: `${watchersMax} pages already watch this node: try another node`,
          },
        },
        503,
        CORS_HEADERS,
      );
    }
    return streamSnapshots(c, hub);
  });
}
