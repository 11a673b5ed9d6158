// One HTTP/1.1 keep-alive client (undici pools, one per node) used for every system's REST or
// JSON gateway, so the client path costs the same whichever server is measured.
import { Pool } from 'undici';

export interface HttpRequest {
  readonly origin: string;
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  readonly path: string;
  /** A JSON body, sent with content-type application/json. */
  readonly body?: string;
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

/** Default per-request deadline for load requests. */
export const REQUEST_TIMEOUT_MS = 10_000;

export class HttpClients {
  readonly #pools = new Map<string, Pool>();
  readonly #connectionsPerOrigin: number;

  constructor(options: { connectionsPerOrigin: number }) {
    this.#connectionsPerOrigin = options.connectionsPerOrigin;
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: this.#connectionsPerOrigin,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connectTimeout: 2000,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async request(request: HttpRequest): Promise<HttpResponse> {
    const timeoutMs = request.timeoutMs ?? REQUEST_TIMEOUT_MS;
    const response = await this.#pool(request.origin).request({
      path: request.path,
      method: request.method,
      headers: request.body === undefined ? {} : { 'content-type': 'application/json' },
      body: request.body ?? null,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.statusCode, body: await response.body.text() };
  }

  /** Drops the pool of one origin (after its server was killed, its sockets are dead). */
  async forget(origin: string): Promise<void> {
    const pool = this.#pools.get(origin);
    this.#pools.delete(origin);
    await pool?.destroy();
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy()));
  }
}
