// Helpers shared by this package's tests (excluded from the build): raw sockets that speak the
// wire protocol by hand, so tests can send exactly the bytes a broken or hostile peer would.
import { createHmac } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import { afterEach } from 'vitest';
import { WebSocket } from 'ws';
import {
  createTransportServer,
  silentLogger,
  type TransportServer,
  type TransportServerOptions,
} from '@distsync/transport-ws';

export const SECRET = 'a-test-secret-of-enough-bytes';

export function startServer(options: TransportServerOptions = {}): Promise<TransportServer> {
  return createTransportServer({ logger: silentLogger, ...options });
}

export type Defer = (cleanup: () => Promise<unknown>) => void;

/**
 * Registers an `afterEach` that runs every deferred cleanup of the test, newest first, so sockets,
 * servers and clients close even when the test fails. Call once per test file.
 */
export function useCleanups(): Defer {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return (cleanup) => {
    cleanups.push(cleanup);
  };
}

/** Starts a server whose close is deferred to the end of the test. */
export async function startOwnedServer(
  defer: Defer,
  options: TransportServerOptions = {},
): Promise<TransportServer> {
  const started = await startServer(options);
  defer(() => started.close());
  return started;
}

export interface CloseEvent {
  readonly code: number;
  readonly reason: string;
}

/** A WebSocket that decodes every binary frame it receives and hands them out in order. */
export class RawSocket {
  readonly ws: WebSocket;
  readonly closed: Promise<CloseEvent>;
  readonly frames: unknown[] = [];
  private waiter: (() => void) | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.waiter?.();
      });
    });
    ws.on('message', (data, isBinary) => {
      const bytes = data as Buffer;
      this.frames.push(isBinary ? unpack(bytes) : bytes.toString('utf8'));
      this.waiter?.();
    });
    ws.on('error', () => {
      // Refusals surface through `closed`.
    });
  }

  static open(url: string, options: { rejectUpgrade?: boolean } = {}): Promise<RawSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const raw = new RawSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        resolve(raw);
      });
      ws.once('unexpected-response', (_request, response) => {
        if (options.rejectUpgrade === true) reject(new Error(`HTTP ${response.statusCode}`));
        else reject(new Error(`unexpected HTTP ${response.statusCode}`));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(value: unknown): void {
    this.ws.send(pack(value), { binary: true });
  }

  sendBytes(bytes: Uint8Array, binary = true): void {
    this.ws.send(bytes, { binary });
  }

  /** The next frame matching `predicate` (default: any), skipping pings. */
  async next(predicate: (frame: unknown) => boolean = () => true): Promise<unknown> {
    for (;;) {
      const index = this.frames.findIndex((frame) => !isPing(frame) && predicate(frame));
      if (index >= 0) return this.frames.splice(index, 1)[0];
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }

  /** Opens a `/client` session: hello, then waits for the welcome. */
  static async client(
    url: string,
    hello: { clientId?: string; token?: string } = {},
  ): Promise<RawSocket> {
    const raw = await RawSocket.open(`${url}/client`);
    raw.send({ type: 'hello', protocol: 1, clientId: hello.clientId ?? 'raw', ...hello });
    await raw.next((frame) => isType(frame, 'welcome'));
    return raw;
  }

  /** Opens a `/peer` link as `nodeId`, answering the challenge with a proof of `secret`. */
  static async peer(
    url: string,
    who: { clusterId: string; nodeId: string; secret?: string },
  ): Promise<RawSocket> {
    const raw = await RawSocket.open(`${url}/peer`);
    const challenge = (await raw.next((frame) => isType(frame, 'challenge'))) as { nonce: string };
    const nonce = '0123456789abcdef0123456789abcdef';
    const proof = createHmac('sha256', who.secret ?? SECRET)
      .update(
        JSON.stringify([
          'distsync-peer-v1',
          'hello',
          who.clusterId,
          who.nodeId,
          challenge.nonce,
          nonce,
        ]),
      )
      .digest('hex');
    raw.send({
      type: 'hello',
      protocol: 1,
      clusterId: who.clusterId,
      nodeId: who.nodeId,
      nonce,
      proof,
    });
    return raw;
  }

  close(): Promise<CloseEvent> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.terminate();
    return this.closed;
  }
}

export function isType(frame: unknown, type: string): boolean {
  return typeof frame === 'object' && frame !== null && (frame as { type?: unknown }).type === type;
}

function isPing(frame: unknown): boolean {
  return isType(frame, 'ping');
}

/** Flattens batch frames (arrays) into their items. */
export function itemsOf(frame: unknown): unknown[] {
  return Array.isArray(frame) ? frame : [frame];
}

/** Resolves on the first update of `iterator` that satisfies `predicate`. */
export async function waitForUpdate<T>(
  iterator: AsyncIterableIterator<T>,
  predicate: (update: T) => boolean,
): Promise<T> {
  for await (const update of iterator) {
    if (predicate(update)) {
      await iterator.return?.();
      return update;
    }
  }
  throw new Error('the status feed ended before the expected update');
}
