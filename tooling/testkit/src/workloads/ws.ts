// The kv and cache operations over `@distsync/transport-ws` (the /client WebSocket path with
// client id + seq and transparent retries), answered in the same shape as the REST API so the
// workload records and classifies them the same way.
import {
  connect,
  RemoteError,
  TransportError,
  type ClusterConnection,
} from '@distsync/transport-ws';
import type { HttpOutcome } from '../http.js';
import type { WorkloadContext } from './types.js';

/** The REST status each service error code maps to (apps/node/src/errors.ts). */
const STATUS: Readonly<Record<string, number>> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  TIMEOUT: 408,
  CONFLICT: 409,
  TOO_LARGE: 413,
  LIMIT_REACHED: 429,
  NO_LEADER: 503,
  UNAVAILABLE: 503,
};

/** One connection per client process, made on first use, each starting at another node. */
export class WsConnections {
  readonly #connections = new Map<number, Promise<ClusterConnection | undefined>>();

  get(context: WorkloadContext, process: number): Promise<ClusterConnection | undefined> {
    let connection = this.#connections.get(process);
    if (connection === undefined) {
      const endpoints = context.cluster.ids.map((_, index) =>
        context.cluster.url(index).replace(/^http:/, 'ws:'),
      );
      const first = process % endpoints.length;
      connection = connect([...endpoints.slice(first), ...endpoints.slice(0, first)], {
        clientId: `testkit-${process}-${Date.now()}`,
        requestTimeoutMs: 8000,
        connectTimeoutMs: 10_000,
      }).catch(() => {
        this.#connections.delete(process);
        return undefined;
      });
      this.#connections.set(process, connection);
    }
    return connection;
  }

  async closeAll(): Promise<void> {
    const connections = await Promise.all(this.#connections.values());
    this.#connections.clear();
    const open = connections.filter((c): c is ClusterConnection => c !== undefined);
    await Promise.all(open.map((connection) => connection.close()));
  }
}

export async function wsRequest(
  connection: ClusterConnection,
  request: {
    service: string;
    key: string;
    op: 'read' | 'write' | 'cas';
    body?: unknown;
    timeoutMs: number;
  },
): Promise<HttpOutcome> {
  const body = (request.body ?? {}) as { value?: unknown; expectedVersion?: number };
  try {
    const value =
      request.op === 'read'
        ? await connection.query(
            request.service,
            { op: 'get', key: request.key },
            { timeoutMs: request.timeoutMs },
          )
        : await connection.command(
            request.service,
            request.op === 'write'
              ? {
                  op: request.service === 'cache' ? 'set' : 'put',
                  key: request.key,
                  value: body.value,
                }
              : {
                  op: 'cas',
                  key: request.key,
                  expectedVersion: body.expectedVersion,
                  value: body.value,
                },
            { timeoutMs: request.timeoutMs },
          );
    if (typeof value === 'object' && value !== null && 'found' in value && value.found === false) {
      return {
        kind: 'answer',
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: 'not found' } },
      };
    }
    return { kind: 'answer', status: 200, body: value };
  } catch (error) {
    if (error instanceof RemoteError) {
      return {
        kind: 'answer',
        status: STATUS[error.code] ?? 500,
        body: { error: { code: error.code, message: error.message } },
      };
    }
    const message = error instanceof Error ? error.message : String(error);
    // TIMEOUT, UNAVAILABLE, CLOSED after a send: the command may still apply.
    if (
      error instanceof TransportError &&
      (error.code === 'BAD_REQUEST' || error.code === 'INVALID_ARGUMENT')
    ) {
      return { kind: 'answer', status: 400, body: { error: { code: error.code, message } } };
    }
    return { kind: 'unknown', message };
  }
}
