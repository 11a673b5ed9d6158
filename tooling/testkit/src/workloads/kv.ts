// The kv register workload: clients read, write and compare-and-set a few keys through the
// REST API of random nodes; every written value is unique, so the history can be checked as
// registers (linearizability, per key) and every observed version names exactly one value.
import { checkRegisters, type RegisterOperation } from '../checkers/register.js';
import { errorOf, isDefiniteWriteFailure, requestJson, type HttpOutcome } from '../http.js';
import { WsConnections, wsRequest } from './ws.js';
import {
  countOps,
  pause,
  type CheckerReport,
  type OpStatus,
  type Workload,
  type WorkloadContext,
  type WorkloadStats,
} from './types.js';

export interface KvWorkloadOptions {
  /**
   * `kv` (default): read, write and CAS through /v1/kv. `cache`: read and write through
   * /v1/cache, each read answered by the node's own cache (MESI), checked as the same registers.
   */
  readonly service?: 'kv' | 'cache';
  /**
   * `http` (default): the REST API, one request per operation, never retried. `ws`: each client
   * its own `@distsync/transport-ws` connection (client id + seq, retried until answered, so a
   * command must apply exactly once however often it is resent).
   */
  readonly transport?: 'http' | 'ws';
  readonly keys?: number;
  readonly clients?: number;
  /** Client-side timeout of one request; default 4000 (nodes answer TIMEOUT after 2000). */
  readonly requestTimeoutMs?: number;
  /** Think time between a client's operations, drawn in [min, max] ms. */
  readonly thinkMs?: readonly [number, number];
  /** Hard bound on recorded operations. */
  readonly maxOperations?: number;
  /** Search budget per key for the linearizability checker. */
  readonly maxStepsPerKey?: number;
}

export interface KvOp {
  readonly id: number;
  readonly process: number;
  readonly node: string;
  readonly key: string;
  readonly f: 'read' | 'write' | 'cas';
  /** write and cas: the new value; cas: `from`/`fromVersion`, what the client last saw. */
  readonly value?: string;
  readonly from?: string | null;
  readonly fromVersion?: number;
  readonly callMs: number;
  returnMs: number | null;
  status: OpStatus;
  /** read: what it saw; write/cas: the version written. */
  readValue?: string | null;
  version?: number;
  /** cas: false when it answered CONFLICT. */
  swapped?: boolean;
  error?: string;
  final?: boolean;
}

interface Known {
  readonly value: string | null;
  readonly version: number;
}

export class KvWorkload implements Workload {
  readonly name: string;
  readonly #options: Required<KvWorkloadOptions>;
  readonly #ops: KvOp[] = [];
  #counter = 0;
  readonly #connections = new WsConnections();

  constructor(options: KvWorkloadOptions = {}) {
    const service = options.service ?? 'kv';
    const transport = options.transport ?? 'http';
    this.name = transport === 'ws' ? `${service}-ws` : service;
    this.#options = {
      service,
      transport,
      keys: options.keys ?? 6,
      clients: options.clients ?? 6,
      requestTimeoutMs: options.requestTimeoutMs ?? 4000,
      thinkMs: options.thinkMs ?? [5, 25],
      maxOperations: options.maxOperations ?? 50_000,
      maxStepsPerKey: options.maxStepsPerKey ?? 5_000_000,
    };
  }

  async run(context: WorkloadContext): Promise<void> {
    const clients = Array.from({ length: this.#options.clients }, (_, index) =>
      this.#client(context, index),
    );
    await Promise.all(clients);
  }

  async #client(context: WorkloadContext, process: number): Promise<void> {
    const random = context.random.fork();
    const known = new Map<string, Known>();
    while (!context.signal.aborted && this.#ops.length < this.#options.maxOperations) {
      const nodes = context.cluster.available();
      if (nodes.length === 0) {
        await pause(50, context.signal);
        continue;
      }
      const node = random.pick(nodes);
      const key = `${this.name}-k${random.int(0, this.#options.keys - 1)}`;
      const roll = random.next();
      const seen = known.get(key);
      const noCas = this.#options.service === 'cache' || seen === undefined;
      if (roll < 0.5 || (roll >= 0.75 && noCas)) {
        const op = await this.#read(context, { process, node, key });
        if (op.status === 'ok')
          known.set(key, { value: op.readValue ?? null, version: op.version ?? 0 });
      } else if (roll < 0.75) {
        const op = await this.#write(context, { process, node, key });
        if (op.status === 'ok' && op.value !== undefined)
          known.set(key, { value: op.value, version: op.version ?? 0 });
      } else if (seen !== undefined) {
        const op = await this.#cas(context, { process, node, key, seen });
        if (op.status === 'ok' && op.swapped === true && op.value !== undefined) {
          known.set(key, { value: op.value, version: op.version ?? 0 });
        } else known.delete(key);
      }
      await pause(random.int(...this.#options.thinkMs), context.signal);
    }
  }

  #begin(
    context: WorkloadContext,
    fields: Omit<KvOp, 'id' | 'callMs' | 'returnMs' | 'status' | 'node'> & { node: number },
  ): KvOp {
    this.#counter += 1;
    const op: KvOp = {
      ...fields,
      node: context.cluster.ids[fields.node] ?? '?',
      id: this.#counter,
      callMs: context.now(),
      returnMs: null,
      status: 'unknown',
    };
    this.#ops.push(op);
    return op;
  }

  #url(context: WorkloadContext, at: { node: number; key: string }, suffix = ''): string {
    const path = `/v1/${this.#options.service}/${encodeURIComponent(at.key)}${suffix}`;
    return `${context.cluster.url(at.node)}${path}`;
  }

  /** One operation over the chosen transport, as an HTTP-shaped outcome. */
  async #request(
    context: WorkloadContext,
    at: {
      process: number;
      node: number;
      key: string;
      op: 'read' | 'write' | 'cas';
      body?: unknown;
    },
  ): Promise<HttpOutcome> {
    if (this.#options.transport === 'ws' && at.process < 1000) {
      const connection = await this.#connections.get(context, at.process);
      if (connection === undefined) return { kind: 'refused', message: 'no connection' };
      return wsRequest(connection, {
        service: this.#options.service,
        key: at.key,
        op: at.op,
        body: at.body,
        timeoutMs: this.#options.requestTimeoutMs,
      });
    }
    const method = at.op === 'read' ? 'GET' : at.op === 'write' ? 'PUT' : 'POST';
    return requestJson({
      url: this.#url(context, at, at.op === 'cas' ? '/cas' : ''),
      method,
      ...(at.body === undefined ? {} : { body: at.body }),
      timeoutMs: this.#options.requestTimeoutMs,
    });
  }

  /** Records the end of a write or cas; unknown outcomes keep returnMs null. */
  #settleWrite(context: WorkloadContext, op: KvOp, outcome: HttpOutcome): void {
    const now = context.now();
    if (outcome.kind === 'refused') {
      Object.assign(op, { status: 'fail', returnMs: now, error: outcome.message });
    } else if (outcome.kind === 'unknown') {
      op.error = outcome.message;
    } else if (outcome.status === 200) {
      const version = (outcome.body as { version?: unknown }).version;
      Object.assign(op, { status: 'ok', returnMs: now, swapped: true });
      if (typeof version === 'number') op.version = version;
    } else {
      const error = errorOf(outcome.body);
      op.error = `HTTP ${outcome.status} ${error?.code ?? ''} ${error?.message ?? ''}`.trim();
      if (op.f === 'cas' && error?.code === 'CONFLICT') {
        Object.assign(op, { status: 'ok', returnMs: now, swapped: false });
      } else if (isDefiniteWriteFailure(outcome.status, outcome.body)) {
        Object.assign(op, { status: 'fail', returnMs: now });
      }
    }
  }

  async #read(
    context: WorkloadContext,
    at: { process: number; node: number; key: string; final?: boolean },
  ): Promise<KvOp> {
    const op = this.#begin(context, { ...at, f: 'read' });
    const outcome = await this.#request(context, { ...at, op: 'read' });
    const now = context.now();
    if (outcome.kind === 'answer' && (outcome.status === 200 || outcome.status === 404)) {
      const body = outcome.body as { value?: unknown; version?: unknown };
      op.readValue =
        outcome.status === 404
          ? null
          : typeof body.value === 'string'
            ? body.value
            : JSON.stringify(body.value);
      op.version =
        outcome.status === 404 ? 0 : typeof body.version === 'number' ? body.version : -1;
      Object.assign(op, { status: 'ok', returnMs: now });
    } else {
      // A read that failed or timed out constrains nothing: recorded, never checked.
      Object.assign(op, { status: outcome.kind === 'unknown' ? 'unknown' : 'fail', returnMs: now });
      op.error =
        outcome.kind === 'answer'
          ? `HTTP ${outcome.status} ${errorOf(outcome.body)?.code ?? ''}`
          : outcome.message;
    }
    return op;
  }

  async #write(
    context: WorkloadContext,
    at: { process: number; node: number; key: string },
  ): Promise<KvOp> {
    const value = `p${at.process}-${this.#counter + 1}`;
    const op = this.#begin(context, { ...at, f: 'write', value });
    const outcome = await this.#request(context, { ...at, op: 'write', body: { value } });
    this.#settleWrite(context, op, outcome);
    return op;
  }

  async #cas(
    context: WorkloadContext,
    at: { process: number; node: number; key: string; seen: Known },
  ): Promise<KvOp> {
    const value = `p${at.process}-${this.#counter + 1}`;
    const op = this.#begin(context, {
      process: at.process,
      node: at.node,
      key: at.key,
      f: 'cas',
      value,
      from: at.seen.value,
      fromVersion: at.seen.version,
    });
    const outcome = await this.#request(context, {
      ...at,
      op: 'cas',
      body: { expectedVersion: at.seen.version, value },
    });
    this.#settleWrite(context, op, outcome);
    return op;
  }

  /** One read of every key from every node, after the heal: lost writes show up here. */
  async finish(context: WorkloadContext): Promise<void> {
    await this.#connections.closeAll();
    for (let key = 0; key < this.#options.keys; key += 1) {
      for (const node of context.cluster.available()) {
        await this.#read(context, {
          process: 1000 + node,
          node,
          key: `${this.name}-k${key}`,
          final: true,
        });
      }
    }
  }

  /** The history as register operations: checked reads, writes and CAS with known or unknown outcome. */
  registerOperations(): RegisterOperation[] {
    const ops: RegisterOperation[] = [];
    for (const op of this.#ops) {
      if (op.status === 'fail' || (op.f === 'read' && op.status !== 'ok')) continue;
      const returnMs = op.status === 'ok' && op.returnMs !== null ? op.returnMs : Infinity;
      const base = { id: op.id, process: op.process, key: op.key, callMs: op.callMs, returnMs };
      if (op.f === 'read') {
        ops.push({
          ...base,
          input: { f: 'read' },
          output: { f: 'read', value: op.readValue ?? null },
        });
      } else if (op.f === 'write') {
        ops.push({
          ...base,
          input: { f: 'write', value: op.value ?? '' },
          output: returnMs === Infinity ? undefined : { f: 'write' },
        });
      } else {
        ops.push({
          ...base,
          input: { f: 'cas', from: op.from ?? null, to: op.value ?? '' },
          output: returnMs === Infinity ? undefined : { f: 'cas', ok: op.swapped === true },
        });
      }
    }
    return ops;
  }

  /** Every version names one value and every value one version (a write applied twice, or two writes sharing an index, breaks it). */
  #checkVersions(): CheckerReport {
    const valueOf = new Map<string, { value: string | null; op: number }>();
    const versionOf = new Map<string, { version: number; op: number }>();
    const conflicts: unknown[] = [];
    for (const op of this.#ops) {
      if (op.status !== 'ok' || op.version === undefined || (op.f === 'cas' && op.swapped !== true))
        continue;
      const value = op.f === 'read' ? (op.readValue ?? null) : (op.value ?? null);
      if (value === null) continue;
      const versionKey = `${op.key}@${op.version}`;
      const byVersion = valueOf.get(versionKey);
      if (byVersion !== undefined && byVersion.value !== value)
        conflicts.push({ versionKey, values: [byVersion, { value, op: op.id }] });
      valueOf.set(versionKey, { value, op: op.id });
      const byValue = versionOf.get(value);
      if (byValue !== undefined && byValue.version !== op.version)
        conflicts.push({ value, versions: [byValue, { version: op.version, op: op.id }] });
      versionOf.set(value, { version: op.version, op: op.id });
    }
    return {
      checker: `${this.name}-versions`,
      valid: conflicts.length === 0,
      summary:
        conflicts.length === 0
          ? `${versionOf.size} values, one version each`
          : `${conflicts.length} version conflicts`,
      details: { values: versionOf.size, conflicts: conflicts.slice(0, 20) },
    };
  }

  check(): CheckerReport[] {
    const operations = this.registerOperations();
    const started = performance.now();
    const verdict = checkRegisters(operations, { maxStepsPerKey: this.#options.maxStepsPerKey });
    const elapsedMs = Math.round(performance.now() - started);
    const unknownWrites = operations.filter((op) => op.returnMs === Infinity).length;
    const summary =
      verdict.valid === true
        ? `linearizable: ${verdict.operations} ops over ${verdict.keys} keys (${unknownWrites} with unknown outcome) in ${elapsedMs} ms`
        : verdict.valid === 'unknown'
          ? `undecided: search budget spent on keys ${verdict.exhaustedKeys.join(', ')}`
          : `NOT linearizable on keys ${verdict.failedKeys.join(', ')}`;
    return [
      {
        checker: 'linearizable-register',
        valid: verdict.valid,
        summary,
        details: { ...verdict, checkMs: elapsedMs, unknownWrites },
      },
      this.#checkVersions(),
    ];
  }

  stats(): WorkloadStats {
    return countOps(this.#ops);
  }

  history(): unknown {
    return this.#ops;
  }

  load(history: unknown): void {
    this.#ops.splice(0, this.#ops.length, ...(history as KvOp[]));
  }
}
