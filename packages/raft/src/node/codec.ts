// The bytes a `normal` log entry carries. Kept in one place (and injectable) so the encoding can
// change, e.g. to msgpack, without touching the loop, the registry or the session table.

/** What the host stamps on every command before proposing it. */
export interface CommandEnvelope {
  /** The registry name of the target state machine. */
  readonly sm: string;
  /** The client session; with `seq` it makes retries apply exactly once. */
  readonly clientId?: string;
  readonly seq?: number;
  /** The lowest seq the client still awaits; absent means `seq` (see `CommandOptions`). */
  readonly lowestUnackedSeq?: number;
  /** A node-unique id that lets the proposing node find its waiter for a session-less command. */
  readonly ref?: string;
  /** The proposer's clock when proposing; made monotonic across leaders on apply. */
  readonly timeMs: number;
  readonly command: unknown;
}

/** Turns envelopes into entry bytes and back; `decode` throws on bytes it cannot read. */
export interface EnvelopeCodec {
  encode(envelope: CommandEnvelope): Uint8Array;
  decode(bytes: Uint8Array): CommandEnvelope;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON in UTF-8: readable in a hex dump and cheap enough. `Buffer.from` (a Uint8Array, possibly a
 * view into Node's shared pool) is used because it encodes short strings about three times
 * faster than `TextEncoder.encode` on Node 20; this runs once per command.
 */
export const jsonEnvelopeCodec: EnvelopeCodec = {
  encode: (envelope) => Buffer.from(JSON.stringify(envelope), 'utf8'),
  decode: (bytes) => checkEnvelope(JSON.parse(decoder.decode(bytes)) as unknown),
};

/** Checks the shape by hand: this runs once per applied entry, so it avoids a schema library. */
function checkEnvelope(value: unknown): CommandEnvelope {
  if (typeof value !== 'object' || value === null) throw new TypeError('envelope is not an object');
  const envelope = value as Record<string, unknown>;
  if (typeof envelope.sm !== 'string') throw new TypeError('envelope.sm is not a string');
  if (typeof envelope.timeMs !== 'number' || !Number.isFinite(envelope.timeMs)) {
    throw new TypeError('envelope.timeMs is not a finite number');
  }
  const clientId = envelope.clientId;
  const seq = envelope.seq;
  if ((clientId === undefined) !== (seq === undefined)) {
    throw new TypeError('envelope.clientId and envelope.seq come together');
  }
  if (clientId !== undefined && typeof clientId !== 'string') {
    throw new TypeError('envelope.clientId is not a string');
  }
  if (seq !== undefined && !Number.isSafeInteger(seq)) {
    throw new TypeError('envelope.seq is not a safe integer');
  }
  const lowest = envelope.lowestUnackedSeq;
  if (lowest !== undefined && (seq === undefined || !Number.isSafeInteger(lowest))) {
    throw new TypeError('envelope.lowestUnackedSeq is not a safe integer given with seq');
  }
  const ref = envelope.ref;
  if (ref !== undefined && typeof ref !== 'string')
    throw new TypeError('envelope.ref is not a string');
  return value as CommandEnvelope;
}
