// The named state machines of one Raft group, the session table and the applied clock. This is
// the deterministic part of the host: everything here runs identically on every replica for the
// same log, so results may be cached, compared and snapshotted.
import { z } from 'zod';
import { RaftError } from '../errors.js';
import type { Entry } from '../messages.js';
import type { SnapshotJob, StateMachine } from '../state-machine.js';
import { ConcatJob, runToEnd } from './map-snapshots.js';
import type { CommandEnvelope, EnvelopeCodec } from './codec.js';
import type { AppliedResult } from './results.js';
import { SessionTable } from './sessions.js';

/** A state machine with its types erased, as the registry holds it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: any machine fits here.
export type AnyStateMachine = StateMachine<any, any, any>;

/** What applying one `normal` entry produced, and for which waiter. */
export interface ApplyOutcome {
  /** The waiter key (`sessionKey` or `refKey`), or undefined when the envelope was unreadable. */
  readonly key: string | undefined;
  readonly result: AppliedResult;
}

/** The waiter key of a session command. */
export function sessionKey(clientId: string, seq: number): string {
  return `c\u0000${clientId}\u0000${seq}`;
}

/** The waiter key of a session-less command. */
export function refKey(ref: string): string {
  return `r\u0000${ref}`;
}

function keyOf(envelope: CommandEnvelope): string | undefined {
  if (envelope.clientId !== undefined && envelope.seq !== undefined) {
    return sessionKey(envelope.clientId, envelope.seq);
  }
  return envelope.ref === undefined ? undefined : refKey(envelope.ref);
}

function badRequest(message: string): AppliedResult {
  return { ok: false, code: 'BAD_REQUEST', message };
}

export class StateMachineRegistry {
  readonly #machines = new Map<string, AnyStateMachine>();
  readonly #sessions: SessionTable;
  readonly #codec: EnvelopeCodec;
  #lastTimeMs = 0;

  constructor(options: {
    machines: readonly AnyStateMachine[];
    maxSessions: number;
    codec: EnvelopeCodec;
  }) {
    for (const machine of options.machines) this.#machines.set(machine.name, machine);
    this.#sessions = new SessionTable(options.maxSessions);
    this.#codec = options.codec;
  }

  get(name: string): AnyStateMachine | undefined {
    return this.#machines.get(name);
  }

  names(): string[] {
    return [...this.#machines.keys()];
  }

  get sessions(): SessionTable {
    return this.#sessions;
  }

  /** The applied time of the last command: the floor for the next one. */
  get lastTimeMs(): number {
    return this.#lastTimeMs;
  }

  /** Applies one committed `normal` entry. State machine exceptions propagate: they are bugs. */
  apply(entry: Entry): ApplyOutcome {
    let envelope: CommandEnvelope;
    try {
      envelope = this.#codec.decode(entry.data);
    } catch (error) {
      return {
        key: undefined,
        result: badRequest(`entry ${entry.index} is unreadable: ${String(error)}`),
      };
    }
    // Time only moves forward, whatever the clock of the leader that stamped this entry said.
    const timeMs = Math.max(this.#lastTimeMs, envelope.timeMs);
    this.#lastTimeMs = timeMs;
    const key = keyOf(envelope);
    const { clientId, seq } = envelope;
    if (clientId === undefined || seq === undefined) {
      return { key, result: this.#run(entry, envelope, timeMs) };
    }
    const seen = this.#sessions.lookup(clientId, seq);
    if (seen.kind === 'duplicate') return { key, result: seen.result };
    if (seen.kind === 'stale') {
      return {
        key,
        result: badRequest(
          `seq ${seq} of client ${clientId} is below its lowest unacknowledged seq ${seen.floor}`,
        ),
      };
    }
    const result = this.#run(entry, envelope, timeMs);
    this.#sessions.record({
      clientId,
      seq,
      result,
      timeMs,
      lowestUnackedSeq: envelope.lowestUnackedSeq,
    });
    return { key, result };
  }

  #run(entry: Entry, envelope: CommandEnvelope, timeMs: number): AppliedResult {
    const machine = this.#machines.get(envelope.sm);
    if (machine === undefined)
      return badRequest(`no state machine named ${JSON.stringify(envelope.sm)}`);
    const parsed = machine.commandSchema.safeParse(envelope.command);
    if (!parsed.success) {
      return badRequest(`invalid ${envelope.sm} command: ${z.prettifyError(parsed.error)}`);
    }
    const context = { index: entry.index, term: entry.term, timeMs, clientId: envelope.clientId };
    const value: unknown = machine.apply(parsed.data, context);
    return { ok: true, value, index: entry.index };
  }

  /**
   * Serializes every machine, the session table and the applied clock. Layout: a 4-byte
   * big-endian header length, a UTF-8 JSON header, then each machine's bytes in header order.
   */
  snapshot(): Uint8Array {
    return runToEnd(this.beginSnapshot());
  }

  /**
   * The same bytes as `snapshot()` at this moment, produced in slices: machines with
   * `beginSnapshot` are serialized a slice per `next()` while entries keep applying; the others,
   * the session table and the applied clock are captured now.
   */
  beginSnapshot(): SnapshotJob {
    const lastTimeMs = this.#lastTimeMs;
    const sessions = this.#sessions.list();
    const parts = [...this.#machines.values()].map((machine) => {
      const job = machine.beginSnapshot?.();
      return { name: machine.name, job, bytes: job === undefined ? machine.snapshot() : undefined };
    });
    let current = 0;
    let joining: ConcatJob | undefined;
    return {
      next: () => {
        if (joining !== undefined) return joining.next();
        for (; current < parts.length; current++) {
          const part = parts[current];
          if (part === undefined || part.bytes !== undefined) continue;
          const bytes = part.job?.next();
          if (bytes === undefined) return undefined;
          part.bytes = bytes;
        }
        joining = assembleSnapshot(
          { format: 2, lastTimeMs, sessions, machines: [] },
          parts.map((part) => ({ name: part.name, bytes: part.bytes ?? new Uint8Array() })),
        );
        // Machines serialized at once are joined at once; a sliced state a slice per call.
        return parts.some((part) => part.job !== undefined) ? joining.next() : runToEnd(joining);
      },
      cancel: () => {
        for (const part of parts) if (part.bytes === undefined) part.job?.cancel();
      },
    };
  }

  /** Restores what `snapshot()` wrote. The set of machines must match this registry's exactly. */
  restore(bytes: Uint8Array): void {
    const { header, body } = readSnapshot(bytes);
    const names = header.machines.map((machine) => machine.name).sort();
    const mine = this.names().sort();
    if (names.join('\u0000') !== mine.join('\u0000')) {
      throw new RaftError(
        'BAD_SNAPSHOT',
        `snapshot holds machines [${names.join(', ')}] but this node registers [${mine.join(', ')}]`,
      );
    }
    let offset = 0;
    for (const { name, length } of header.machines) {
      this.#machines.get(name)?.restore(body.subarray(offset, offset + length));
      offset += length;
    }
    this.#sessions.replace(header.sessions);
    this.#lastTimeMs = header.lastTimeMs;
  }
}

const AppliedResultSchema = z.union([
  z.object({ ok: z.literal(true), value: z.unknown(), index: z.number().int().nonnegative() }),
  z.object({ ok: z.literal(false), code: z.literal('BAD_REQUEST'), message: z.string() }),
]);

const SnapshotHeaderSchema = z.object({
  format: z.literal(2),
  lastTimeMs: z.number(),
  sessions: z.array(
    z.object({
      clientId: z.string(),
      floor: z.number().int().nonnegative(),
      results: z.array(z.tuple([z.number().int().nonnegative(), AppliedResultSchema])),
      timeMs: z.number(),
    }),
  ),
  machines: z.array(z.object({ name: z.string(), length: z.number().int().nonnegative() })),
});
type SnapshotHeader = z.infer<typeof SnapshotHeaderSchema>;

/** The layout `snapshot()` documents, joined by a `ConcatJob` (the header is written now). */
function assembleSnapshot(
  base: SnapshotHeader,
  parts: readonly { name: string; bytes: Uint8Array }[],
): ConcatJob {
  const header: SnapshotHeader = {
    ...base,
    machines: parts.map((part) => ({ name: part.name, length: part.bytes.byteLength })),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const job = new ConcatJob(
    parts.map((part) => part.bytes),
    4 + headerBytes.byteLength,
  );
  new DataView(job.output.buffer).setUint32(0, headerBytes.byteLength);
  job.output.set(headerBytes, 4);
  return job;
}

/** Splits snapshot bytes into a validated header and the machines' bytes. */
function readSnapshot(bytes: Uint8Array): { header: SnapshotHeader; body: Uint8Array } {
  if (bytes.byteLength < 4)
    throw new RaftError('BAD_SNAPSHOT', 'snapshot is shorter than its header length');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  if (4 + headerLength > bytes.byteLength) {
    throw new RaftError('BAD_SNAPSHOT', 'snapshot header length exceeds the snapshot');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(4, 4 + headerLength)),
    );
  } catch (error) {
    throw new RaftError('BAD_SNAPSHOT', 'snapshot header is not valid JSON', { cause: error });
  }
  const parsed = SnapshotHeaderSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RaftError(
      'BAD_SNAPSHOT',
      `snapshot header is invalid: ${z.prettifyError(parsed.error)}`,
    );
  }
  const body = bytes.subarray(4 + headerLength);
  const needed = parsed.data.machines.reduce((sum, machine) => sum + machine.length, 0);
  if (needed !== body.byteLength) {
    throw new RaftError(
      'BAD_SNAPSHOT',
      `snapshot body is ${body.byteLength} bytes, header says ${needed}`,
    );
  }
  return { header: parsed.data, body };
}
