// The node's HTTP API on Hono: health, readiness, status, metrics, and the REST routes every
// registered service brings. Errors are always `{ error: { code, message } }` with the status
// HTTP_STATUS_OF_CODE gives the code.
import { timingSafeEqual, createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import type { z } from 'zod';
import { HTTP_STATUS_OF_CODE, type NodeErrorCode, type OperationResult } from '../errors.js';
import type { NodeMetrics } from '../metrics.js';
import type { Operations } from '../operations.js';
import { mountDashboard, type DashboardRoutesOptions } from '../dashboard/routes.js';
import type { RouteSpec, ServiceRegistry } from '../services/registry.js';
import { openApiDocument } from './openapi.js';

export interface AppContext {
  readonly registry: ServiceRegistry;
  readonly operations: Operations;
  readonly metrics: NodeMetrics;
  readonly maxBodyBytes: number;
  /** When set, /v1 requests need `Authorization: Bearer <token>`. */
  readonly token: string | undefined;
  /** The /status document. */
  readonly status: () => NodeStatusDocument;
  /** Null when ready, else why not. */
  readonly notReadyReason: () => string | null;
  /** The /ui dashboard (page, snapshots, event stream); absent: no /ui. */
  readonly dashboard?: DashboardRoutesOptions;
  /** Routes about the cluster itself (`/v1/cluster/...`), mounted and documented like a service's. */
  readonly clusterRoutes?: readonly RouteSpec[];
}

export interface NodeStatusDocument {
  readonly id: string;
  readonly [key: string]: unknown;
}

type StatusCode = 200 | 400 | 401 | 404 | 408 | 409 | 413 | 429 | 500 | 503 | 507;

function errorResponse(_c: unknown, code: NodeErrorCode, message: string): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status: HTTP_STATUS_OF_CODE[code],
    headers: { 'content-type': 'application/json' },
  });
}

function answer(c: Context, result: OperationResult): Response {
  if (result.ok) return c.json(result.value as object);
  return errorResponse(c, result.error.code, result.error.message);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map(
      (issue) => `body${issue.path.map((part) => `.${String(part)}`).join('')}: ${issue.message}`,
    )
    .join('; ');
}

type BodyRead =
  { readonly body: unknown } | { readonly code: NodeErrorCode; readonly message: string };

/** Over `maxBytes`: the body is not read further (what is left is discarded). */
const TOO_LARGE_BODY = Symbol('too large');

/**
 * The body as text, read straight from Node's request when the app runs on a Node server:
 * through Hono's `c.req.text()`, every body became a WHATWG Request with a ReadableStream and an
 * AbortSignal, which cost a fifth of the CPU a small write takes. Stops reading past `maxBytes`
 * (a declared `Content-Length` above it never gets here: the /v1 middleware refuses it).
 */
function readText(c: Context, maxBytes: number): Promise<string | typeof TOO_LARGE_BODY> {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (!(incoming instanceof IncomingMessage) || incoming.readableDidRead) {
    return c.req
      .text()
      .then((text) => (Buffer.byteLength(text) > maxBytes ? TOO_LARGE_BODY : text));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        incoming.off('data', onData);
        incoming.resume();
        resolve(TOO_LARGE_BODY);
        return;
      }
      chunks.push(chunk);
    };
    incoming.on('data', onData);
    incoming.once('end', () => {
      resolve(Buffer.concat(chunks, size).toString('utf8'));
    });
    incoming.once('error', reject);
    incoming.once('close', () => {
      if (!incoming.complete)
        reject(new Error('the client closed the request before its body ended'));
    });
  });
}

/** Reads (within maxBodyBytes), parses and validates a JSON body. */
async function readBody(c: Context, schema: z.ZodType, maxBytes: number): Promise<BodyRead> {
  const text = await readText(c, maxBytes);
  if (text === TOO_LARGE_BODY) {
    return { code: 'TOO_LARGE', message: `the body exceeds maxBodyBytes (${maxBytes})` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { code: 'BAD_REQUEST', message: 'body: expected a JSON document' };
  }
  const checked = schema.safeParse(parsed);
  return checked.success
    ? { body: checked.data }
    : { code: 'BAD_REQUEST', message: describeIssues(checked.error) };
}

/** Optional `X-Distsync-Client-Id` + `X-Distsync-Seq`: exactly-once retries over HTTP. */
function sessionOf(c: Context): { clientId: string; seq: number } | undefined | string {
  const clientId = c.req.header('x-distsync-client-id');
  const seqText = c.req.header('x-distsync-seq');
  if (clientId === undefined && seqText === undefined) return undefined;
  const seq = Number(seqText);
  if (clientId === undefined || clientId === '' || !Number.isSafeInteger(seq) || seq < 0) {
    return 'x-distsync-client-id and x-distsync-seq (a non-negative integer) go together';
  }
  return { clientId, seq };
}

function mountRoute(
  app: Hono,
  input: { route: RouteSpec; context: AppContext; service: string },
): void {
  const { route, context, service } = input;
  const honoPath = route.path.replace(/\{(\w+)\}/g, ':$1');
  app.on(route.method.toUpperCase(), honoPath, async (c) => {
    const session = sessionOf(c);
    if (typeof session === 'string') return errorResponse(c, 'BAD_REQUEST', session);
    let body: unknown;
    if (route.body !== undefined) {
      const read = await readBody(c, route.body, context.maxBodyBytes);
      if (!('body' in read)) return errorResponse(c, read.code, read.message);
      body = read.body;
    }
    const result = await route.handle({
      params: c.req.param(),
      body,
      session,
      operations: context.operations.forService(service),
      header: (name) => c.req.header(name),
    });
    return answer(c, result);
  });
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function mountV1(app: Hono, context: AppContext): void {
  const expected = context.token === undefined ? undefined : digest(`Bearer ${context.token}`);
  app.use('/v1/*', async (c, next) => {
    if (expected !== undefined && c.req.path !== '/v1/openapi.json') {
      const given = digest(c.req.header('authorization') ?? '');
      if (!timingSafeEqual(given, expected)) {
        return errorResponse(c, 'UNAUTHORIZED', 'expected Authorization: Bearer <token>');
      }
    }
    await next();
    return undefined;
  });
  // A declared body over the limit is refused on every /v1 route, before anything reads it.
  app.use('/v1/*', async (c, next) => {
    const declared = Number(c.req.header('content-length'));
    if (Number.isFinite(declared) && declared > context.maxBodyBytes) {
      return errorResponse(
        c,
        'TOO_LARGE',
        `the body exceeds maxBodyBytes (${context.maxBodyBytes})`,
      );
    }
    await next();
    return undefined;
  });
  const clusterRoutes = context.clusterRoutes ?? [];
  const document = openApiDocument([...context.registry.routes(), ...clusterRoutes]);
  app.get('/v1/openapi.json', (c) => c.json(document));
  for (const service of context.registry.all()) {
    for (const route of service.routes) mountRoute(app, { route, context, service: service.name });
  }
  for (const route of clusterRoutes) mountRoute(app, { route, context, service: 'cluster' });
}

/** Builds the node's Hono app. */
export function createApp(context: AppContext): Hono {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok', id: context.status().id }));
  app.get('/ready', (c) => {
    const reason = context.notReadyReason();
    return reason === null
      ? c.json({ ready: true })
      : c.json({ ready: false, reason }, 503 as StatusCode);
  });
  app.get('/status', (c) => c.json(context.status()));
  app.get('/metrics', async (c) => {
    const text = await context.metrics.registry.metrics();
    return c.text(text, 200, { 'content-type': context.metrics.registry.contentType });
  });
  if (context.dashboard !== undefined) mountDashboard(app, context.dashboard);
  mountV1(app, context);
  app.notFound((c) => errorResponse(c, 'NOT_FOUND', `no route ${c.req.method} ${c.req.path}`));
  app.onError((error, c) => errorResponse(c, 'INTERNAL', String(error)));
  return app;
}
