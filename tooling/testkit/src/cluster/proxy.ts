// A fault-injecting TCP proxy for one directed peer link: node `from` dials its peer `to`
// through it (its `--peers` URL for `to` points here). Each direction of the byte stream can be
// passed or blackholed (bytes read and discarded, as a partitioned network drops packets), and
// every connection can be reset. A healed blackhole resets the connections it damaged, since
// a byte stream with a hole in it is no longer a stream; the peer transport reconnects.
import { createServer, connect, type Server, type Socket } from 'node:net';

/** `forward`: the dialer's bytes to the target; `backward`: the target's bytes to the dialer. */
export type ProxyDirection = 'forward' | 'backward';

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  damaged: boolean;
}

export class LinkProxy {
  readonly from: string;
  readonly to: string;
  readonly #targetPort: number;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  readonly #blocked = new Set<ProxyDirection>();
  #port = 0;
  /** Bytes discarded while blackholed, for the report. */
  droppedBytes = 0;

  private constructor(options: { from: string; to: string; targetPort: number }) {
    this.from = options.from;
    this.to = options.to;
    this.#targetPort = options.targetPort;
    this.#server = createServer((client) => {
      this.#accept(client);
    });
  }

  /** Starts a proxy on a free loopback port forwarding to `targetPort`. */
  static async start(options: {
    from: string;
    to: string;
    targetPort: number;
  }): Promise<LinkProxy> {
    const proxy = new LinkProxy(options);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen({ host: '127.0.0.1', port: 0 }, () => {
        const address = proxy.#server.address();
        if (address !== null && typeof address === 'object') proxy.#port = address.port;
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  #accept(client: Socket): void {
    const upstream = connect({ host: '127.0.0.1', port: this.#targetPort });
    const pair: Pair = { client, upstream, damaged: false };
    this.#pairs.add(pair);
    const close = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.on('data', (chunk: Buffer) => {
      this.#relay(pair, 'forward', chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      this.#relay(pair, 'backward', chunk);
    });
  }

  #relay(pair: Pair, direction: ProxyDirection, chunk: Buffer): void {
    if (this.#blocked.has(direction)) {
      pair.damaged = true;
      this.droppedBytes += chunk.length;
      return;
    }
    const target = direction === 'forward' ? pair.upstream : pair.client;
    if (!target.destroyed) target.write(chunk);
  }

  /** Blackholes one direction (both when omitted). */
  block(direction?: ProxyDirection): void {
    if (direction === undefined || direction === 'forward') this.#blocked.add('forward');
    if (direction === undefined || direction === 'backward') this.#blocked.add('backward');
  }

  /** Passes every direction again; connections that lost bytes are reset. */
  heal(): void {
    this.#blocked.clear();
    for (const pair of this.#pairs) if (pair.damaged) this.#destroy(pair);
  }

  get blocked(): readonly ProxyDirection[] {
    return [...this.#blocked];
  }

  /** Resets every connection now (a TCP RST to both ends). */
  resetAll(): void {
    for (const pair of this.#pairs) this.#destroy(pair);
  }

  #destroy(pair: Pair): void {
    this.#pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
  }

  async close(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }
}
