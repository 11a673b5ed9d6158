// QueueClient: the application side of the queue service over a consumer-owned connection
// (`@distsync/transport-ws`'s `connect()` satisfies `QueueConnection` structurally). Sends carry
// an id (a random UUID unless given) so a retried send is deduplicated by the machine; consume()
// keeps a client session alive so a crashed consumer's leases come back when it expires.
import { QueueError } from './errors.js';
import type { MessageInput, QueueOptionsInput } from './messages.js';
import type { DeliveredMessage } from './state-machine.js';

/** What QueueClient needs of a cluster connection. */
export interface QueueConnection {
  command(
    service: string,
    payload: unknown,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<unknown>;
  query(
    service: string,
    payload: unknown,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<unknown>;
}

export interface QueueClientOptions {
  readonly connection: QueueConnection;
  /** The service name on the node; default `queue`. */
  readonly service?: string;
  /** TTL of the consumer session `consume()` keeps alive (renewed every third of it). */
  readonly sessionTtlMs?: number;
  /** Deadline of each request besides a receive's wait. */
  readonly requestTimeoutMs?: number;
}

export const DEFAULT_SESSION_TTL_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_PREFETCH = 16;
export const DEFAULT_CONSUME_WAIT_MS = 5_000;

export type SendOptions = Omit<MessageInput, 'body'>;

export interface ReceiveOptions {
  readonly max?: number;
  /** Long poll: wait up to this long for a message (0: answer at once). */
  readonly waitMs?: number;
  readonly visibilityTimeoutMs?: number;
  /** A session id: these leases are released when that session ends. */
  readonly consumer?: string;
  readonly signal?: AbortSignal;
}

export interface ConsumeOptions {
  /** Messages leased to this consumer and not yet settled: the credit of flow control. */
  readonly prefetch?: number;
  readonly waitMs?: number;
  readonly visibilityTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A delivered message with its settlement methods. */
export interface ReceivedMessage extends DeliveredMessage {
  readonly queue: string;
  ack(): Promise<void>;
  nack(options?: { requeue?: boolean; delayMs?: number }): Promise<void>;
  extend(visibilityTimeoutMs: number): Promise<void>;
}

function toQueueError(error: unknown): QueueError {
  if (error instanceof QueueError) return error;
  const code =
    typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
      ? error.code
      : 'UNAVAILABLE';
  const message = error instanceof Error ? error.message : String(error);
  return new QueueError(code, message, { cause: error });
}

export class QueueClient {
  readonly #connection: QueueConnection;
  readonly #service: string;
  readonly #sessionTtlMs: number;
  readonly #timeoutMs: number;
  readonly #controller = new AbortController();
  #session: Promise<string> | undefined;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: QueueClientOptions) {
    this.#connection = options.connection;
    this.#service = options.service ?? 'queue';
    this.#sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  async #command<T>(payload: unknown, extraMs = 0, signal?: AbortSignal): Promise<T> {
    if (this.#closed) throw new QueueError('UNAVAILABLE', 'the queue client is closed');
    const signals =
      signal === undefined ? [this.#controller.signal] : [this.#controller.signal, signal];
    try {
      return (await this.#connection.command(this.#service, payload, {
        timeoutMs: this.#timeoutMs + extraMs,
        signal: AbortSignal.any(signals),
      })) as T;
    } catch (error) {
      throw toQueueError(error);
    }
  }

  async createQueue(queue: string, options?: QueueOptionsInput): Promise<{ created: boolean }> {
    return this.#command({ op: 'create', queue, ...(options === undefined ? {} : { options }) });
  }

  /** Sends one message; resolves once it is committed (an acknowledged send is never lost). */
  async send(
    queue: string,
    body: unknown,
    options: SendOptions = {},
  ): Promise<{ id: string; duplicate: boolean }> {
    const message = { ...options, id: options.id ?? crypto.randomUUID(), body };
    return this.#command({ op: 'send', queue, message });
  }

  /** Sends many messages in one command: all are enqueued or none. */
  async sendBatch(
    queue: string,
    messages: readonly (SendOptions & { body: unknown })[],
  ): Promise<{ id: string; duplicate: boolean }[]> {
    const withIds = messages.map((message) => ({
      ...message,
      id: message.id ?? crypto.randomUUID(),
    }));
    const result = await this.#command<{ messages: { id: string; duplicate: boolean }[] }>({
      op: 'sendBatch',
      queue,
      messages: withIds,
    });
    return result.messages;
  }

  async receive(queue: string, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const { signal, ...rest } = options;
    const result = await this.#command<{ messages: DeliveredMessage[] }>(
      { op: 'receive', queue, ...rest },
      options.waitMs ?? 0,
      signal,
    );
    return result.messages.map((message) => this.#wrap(queue, message));
  }

  #wrap(queue: string, message: DeliveredMessage, settled?: () => void): ReceivedMessage {
    let done = false;
    const once = async (settle: () => Promise<void>): Promise<void> => {
      try {
        await settle();
      } finally {
        if (!done) {
          done = true;
          settled?.();
        }
      }
    };
    return {
      ...message,
      queue,
      ack: () => once(() => this.ack(message.receipt)),
      nack: (options) => once(() => this.nack(message.receipt, options)),
      extend: (ms) => this.extend(message.receipt, ms),
    };
  }

  async ack(receipt: string): Promise<void> {
    await this.#command({ op: 'ack', receipt });
  }

  async nack(
    receipt: string,
    options: { requeue?: boolean; delayMs?: number } = {},
  ): Promise<void> {
    await this.#command({ op: 'nack', receipt, ...options });
  }

  async extend(receipt: string, visibilityTimeoutMs: number): Promise<void> {
    await this.#command({ op: 'extend', receipt, visibilityTimeoutMs });
  }

  async redrive(queue: string, max?: number): Promise<{ redriven: number }> {
    return this.#command({ op: 'redrive', queue, ...(max === undefined ? {} : { max }) });
  }

  async purge(queue: string): Promise<{ purged: number }> {
    return this.#command({ op: 'purge', queue });
  }

  async stats(queue: string): Promise<Record<string, unknown>> {
    try {
      return (await this.#connection.query(
        this.#service,
        { op: 'stats', queue, nowMs: Date.now() },
        {
          timeoutMs: this.#timeoutMs,
        },
      )) as Record<string, unknown>;
    } catch (error) {
      throw toQueueError(error);
    }
  }

  /** The consumer session, created on first use and kept alive until close(). */
  async sessionId(): Promise<string> {
    this.#session ??= this.#createSession();
    return this.#session;
  }

  async #createSession(): Promise<string> {
    const created = (await this.#connection.command(
      'sessions',
      { op: 'create', ttlMs: this.#sessionTtlMs },
      {
        timeoutMs: this.#timeoutMs,
      },
    )) as { sessionId: string };
    if (this.#keepalive === undefined) {
      this.#keepalive = setInterval(
        () => {
          void this.#renew();
        },
        Math.max(50, Math.floor(this.#sessionTtlMs / 3)),
      );
      this.#keepalive.unref();
    }
    return created.sessionId;
  }

  async #renew(): Promise<void> {
    const current = this.#session;
    if (current === undefined || this.#closed) return;
    try {
      const sessionId = await current;
      await this.#connection.command(
        'sessions',
        { op: 'keepalive', sessionId },
        { timeoutMs: this.#timeoutMs },
      );
    } catch (error) {
      // An expired session released its leases already: the next receive uses a new one.
      if (toQueueError(error).code === 'NOT_FOUND' && this.#session === current) {
        this.#session = this.#createSession();
        this.#session.catch(() => undefined);
      }
    }
  }

  /**
   * Messages of `queue` as an async iterator with credit-based flow control: at most `prefetch`
   * messages are leased to this consumer and unsettled at once; each ack or nack returns one
   * credit. Leaving the loop gives buffered messages back (nack, requeue).
   */
  async *consume(queue: string, options: ConsumeOptions = {}): AsyncGenerator<ReceivedMessage> {
    const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
    let outstanding = 0;
    let wakeCredit: (() => void) | undefined;
    const settled = (): void => {
      outstanding -= 1;
      wakeCredit?.();
    };
    const buffer: ReceivedMessage[] = [];
    try {
      while (!this.#closed && options.signal?.aborted !== true) {
        const next = buffer.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        const credit = prefetch - outstanding;
        if (credit <= 0) {
          await new Promise<void>((resolve) => (wakeCredit = resolve));
          wakeCredit = undefined;
          continue;
        }
        const got = await this.#receiveForConsumer(queue, { ...options, max: credit });
        outstanding += got.length;
        buffer.push(...got.map((message) => this.#wrap(queue, message, settled)));
      }
    } finally {
      await Promise.allSettled(buffer.map((message) => message.nack()));
    }
  }

  async #receiveForConsumer(
    queue: string,
    options: ConsumeOptions & { max: number },
  ): Promise<DeliveredMessage[]> {
    try {
      const consumer = await this.sessionId();
      const result = await this.#command<{ messages: DeliveredMessage[] }>(
        {
          op: 'receive',
          queue,
          max: options.max,
          waitMs: options.waitMs ?? DEFAULT_CONSUME_WAIT_MS,
          consumer,
          ...(options.visibilityTimeoutMs === undefined
            ? {}
            : { visibilityTimeoutMs: options.visibilityTimeoutMs }),
        },
        options.waitMs ?? DEFAULT_CONSUME_WAIT_MS,
        options.signal,
      );
      return result.messages;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (this.#closed || options.signal?.aborted === true) return [];
      if (code === 'NOT_FOUND') this.#session = undefined; // our session ended: make a new one
      // The cluster may be electing a leader: the next round retries.
      if (
        code === 'NOT_FOUND' ||
        code === 'NO_LEADER' ||
        code === 'TIMEOUT' ||
        code === 'UNAVAILABLE'
      ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return [];
      }
      throw error;
    }
  }

  /** Stops consumers and keepalives and ends the session (its leases are released at once). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.abort();
    if (this.#keepalive !== undefined) clearInterval(this.#keepalive);
    const session = this.#session;
    if (session === undefined) return;
    try {
      const sessionId = await session;
      await this.#connection.command(
        'sessions',
        { op: 'delete', sessionId },
        { timeoutMs: this.#timeoutMs },
      );
    } catch {
      // The session expires by itself.
    }
  }
}
