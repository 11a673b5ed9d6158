// The page's one live connection: server-sent events from `/ui/events`, read with fetch (so the
// token travels in the Authorization header, not in the URL). When the node serving it goes away
// the stream moves to the next node it knows from the last snapshot: the page outlives any node.
import type { ClusterSnapshot } from '../../src/dashboard/snapshot.js';

export type StreamState =
  | { readonly type: 'connecting'; readonly url: string }
  | { readonly type: 'live'; readonly url: string }
  | { readonly type: 'unauthorized'; readonly url: string }
  | { readonly type: 'retrying'; readonly url: string; readonly error: string };

export interface StreamHandlers {
  snapshot(snapshot: ClusterSnapshot, fromUrl: string): void;
  state(state: StreamState): void;
}

/** Silence longer than this (the node sends a keepalive every few seconds) means a dead node. */
const SILENCE_MS_MAX = 6000;
/** Pause before trying the next node. */
const RETRY_DELAY_MS = 400;

function headersFor(token: string | null): Record<string, string> {
  return token === null || token === '' ? {} : { authorization: `Bearer ${token}` };
}

/** Splits an SSE byte stream into `{ event, data }` messages. */
async function* sseMessages(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<{ event: string; data: string }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replaceAll('\r\n', '\n');
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      yield { event, data: data.join('\n') };
    }
  }
}

export class ClusterStream {
  readonly #handlers: StreamHandlers;
  #token: string | null;
  /** Base URLs to try, the page's own node first. */
  #candidates: string[];
  #next = 0;
  #controller: AbortController | undefined;
  #stopped = false;
  #current: string | null = null;

  constructor(input: { origin: string; token: string | null; handlers: StreamHandlers }) {
    this.#candidates = [input.origin];
    this.#token = input.token;
    this.#handlers = input.handlers;
  }

  /** The node the stream reads from now (actions go there). */
  get current(): string | null {
    return this.#current;
  }

  get token(): string | null {
    return this.#token;
  }

  /** (Re)starts with a new token. */
  restart(token: string | null): void {
    this.#token = token;
    this.#stopped = false;
    this.#controller?.abort();
    if (this.#controller === undefined) void this.run();
  }

  stop(): void {
    this.#stopped = true;
    this.#controller?.abort();
  }

  async run(): Promise<void> {
    while (!this.#stopped) {
      const url = this.#candidates[this.#next % this.#candidates.length] ?? window.location.origin;
      const outcome = await this.#readFrom(url);
      if (outcome === 'unauthorized') {
        this.#handlers.state({ type: 'unauthorized', url });
        this.#stopped = true;
        break;
      }
      this.#handlers.state({ type: 'retrying', url, error: outcome });
      this.#next += 1;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
    this.#controller = undefined;
  }

  /** Reads snapshots from one node until it fails; answers why it stopped. */
  async #readFrom(url: string): Promise<string> {
    const controller = new AbortController();
    this.#controller = controller;
    let silence: ReturnType<typeof setTimeout> | undefined;
    const arm = (): void => {
      clearTimeout(silence);
      silence = setTimeout(() => {
        controller.abort(new Error('the node went silent'));
      }, SILENCE_MS_MAX);
    };
    this.#handlers.state({ type: 'connecting', url });
    try {
      arm();
      const response = await fetch(`${url}/ui/events`, {
        headers: headersFor(this.#token),
        signal: controller.signal,
        cache: 'no-store',
      });
      if (response.status === 401) return 'unauthorized';
      if (!response.ok || response.body === null) return `HTTP ${response.status}`;
      this.#current = url;
      this.#handlers.state({ type: 'live', url });
      for await (const message of sseMessages(response.body)) {
        arm();
        if (message.event !== 'snapshot') continue;
        const snapshot = JSON.parse(message.data) as ClusterSnapshot;
        this.#learn(url, snapshot);
        this.#handlers.snapshot(snapshot, url);
      }
      return 'the stream ended';
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      clearTimeout(silence);
      if (this.#current === url) this.#current = null;
    }
  }

  /** Remembers every node's URL, so the stream can move when this node goes away. */
  #learn(url: string, snapshot: ClusterSnapshot): void {
    const urls = snapshot.nodes.flatMap((node) => (node.url === null ? [] : [node.url]));
    const others = urls.filter((candidate) => candidate !== url);
    this.#candidates = [url, ...others];
    this.#next = 0;
  }
}

/** POSTs a JSON body to the node the stream follows (or the page's own). */
export async function postJson(input: {
  base: string;
  path: string;
  body: unknown;
  token: string | null;
}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${input.base}${input.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headersFor(input.token) },
    body: JSON.stringify(input.body),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: response.status, body: text };
  }
}
