// lock as a node service: @distsync/lock-manager's state machine, its /client operations, the
// REST routes of DESIGN.md "REST API v1", metrics, and the waiting. A queued acquire is answered
// once the local replica applies its grant or refusal (any node, leader or not); pushes on
// `lock/session/<sessionId>` tell clients of grants, refusals and locks lost with their session.
import { Gauge, Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import {
  createLockStateMachine,
  LockClientCommandSchema,
  LockModeSchema,
  LockNameSchema,
  LockQuerySchema,
  LockSessionIdSchema,
  LockTimeoutMsSchema,
  type LockClientCommand,
  type LockEvent,
  type LockLimits,
  type LockResult,
  type LockStateMachine,
} from '@distsync/lock-manager';
import { apiError, type OperationResult } from '../errors.js';
import type {
  CommandSession,
  RouteSpec,
  ServiceContext,
  ServiceDefinition,
  ServiceOperations,
  ServiceRuntime,
  SessionDirectory,
} from './registry.js';

/** How long past a wait's own timeout the node waits for the replicated TIMEOUT to arrive. */
const TIMEOUT_GRACE_MS = 1000;

export interface LockServiceOptions {
  readonly sessions: SessionDirectory;
  readonly limits?: Partial<LockLimits>;
  /**
   * The longest a node holds a request open for a grant (the node's request timeout): longer
   * waits are shortened to it, and a wait still open then is cancelled and answered TIMEOUT.
   */
  readonly waitTimeoutMsMax: number;
}

function toOperation(result: LockResult): OperationResult {
  return result.ok ? { ok: true, value: result.value } : apiError(result.code, result.message);
}

/** What a session's subscribers are pushed (`lock/session/<sessionId>`). */
function pushOf(event: LockEvent): { sessionId: string; payload: unknown } | undefined {
  switch (event.type) {
    case 'granted': {
      const { requestId, name, token, mode } = event;
      return {
        sessionId: event.sessionId,
        payload: { type: 'granted', requestId, name, token, mode },
      };
    }
    case 'refused': {
      const { requestId, name, code, message } = event;
      return {
        sessionId: event.sessionId,
        payload: { type: 'refused', requestId, name, code, message },
      };
    }
    case 'lost': {
      const { name, token, reason } = event;
      return { sessionId: event.sessionId, payload: { type: 'lost', name, token, reason } };
    }
    case 'restored':
      return undefined;
  }
}

interface LocalWait {
  readonly requestId: number;
  readonly sessionId: string;
  readonly resolve: (result: OperationResult) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** The waits this node holds open, answered from its own replica's apply events. */
class LockWaits {
  readonly #waits = new Map<number, Set<LocalWait>>();
  #stopped = false;

  constructor(
    readonly machine: LockStateMachine,
    readonly context: ServiceContext,
    readonly waitTimeoutMsMax: number,
  ) {
    machine.onEvent((event) => {
      this.#onEvent(event);
    });
  }

  get size(): number {
    let size = 0;
    for (const waits of this.#waits.values()) size += waits.size;
    return size;
  }

  #onEvent(event: LockEvent): void {
    const push = pushOf(event);
    if (push !== undefined) this.context.publish(`lock/session/${push.sessionId}`, push.payload);
    if (event.type === 'restored') {
      for (const requestId of [...this.#waits.keys()]) this.#settleFromState(requestId);
      return;
    }
    if (event.type === 'lost') return;
    this.#settle(
      event.requestId,
      toOperation(
        event.type === 'granted'
          ? {
              ok: true,
              value: { token: event.token, mode: event.mode, holdCount: 1 },
            }
          : { ok: false, code: event.code, message: event.message },
      ),
    );
  }

  #settle(requestId: number, result: OperationResult): void {
    const waits = this.#waits.get(requestId);
    if (waits === undefined) return;
    this.#waits.delete(requestId);
    for (const wait of waits) {
      clearTimeout(wait.timer);
      wait.resolve(result);
    }
  }

  /** After a snapshot install: answer what the new state decides, give up what it forgot. */
  #settleFromState(requestId: number): void {
    const status = this.machine.requestStatus(requestId);
    if (status.state === 'waiting') return;
    if (status.state === 'done') {
      this.#settle(requestId, toOperation(status.result));
      return;
    }
    const sessionId = [...(this.#waits.get(requestId) ?? [])][0]?.sessionId;
    if (sessionId !== undefined) this.#cancel(requestId, sessionId);
    this.#settle(
      requestId,
      apiError('TIMEOUT', `the outcome of request ${requestId} is unknown here`),
    );
  }

  #cancel(requestId: number, sessionId: string): void {
    void this.context.operations.command({ op: 'cancel', requestId, sessionId });
  }

  /** Resolves with the grant or refusal of a queued request, or TIMEOUT (then cancels it). */
  wait(request: {
    requestId: number;
    sessionId: string;
    timeoutMs: number;
  }): Promise<OperationResult> {
    const { requestId, sessionId } = request;
    if (this.#stopped) return Promise.resolve(apiError('UNAVAILABLE', 'the node is draining'));
    const status = this.machine.requestStatus(requestId);
    if (status.state === 'done') return Promise.resolve(toOperation(status.result));
    if (status.state === 'unknown') {
      this.#cancel(requestId, sessionId);
      return Promise.resolve(
        apiError('TIMEOUT', `the outcome of request ${requestId} is unknown here`),
      );
    }
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.#waits.get(requestId)?.delete(wait);
          if (this.#waits.get(requestId)?.size === 0) this.#waits.delete(requestId);
          // A grant nobody is told about must not stay held: cancel releases it if it came.
          this.#cancel(requestId, sessionId);
          resolve(
            apiError('TIMEOUT', `no grant for request ${requestId} within ${request.timeoutMs} ms`),
          );
        },
        Math.min(request.timeoutMs + TIMEOUT_GRACE_MS, this.waitTimeoutMsMax),
      );
      const wait: LocalWait = { requestId, sessionId, resolve, timer };
      let waits = this.#waits.get(requestId);
      if (waits === undefined) {
        waits = new Set();
        this.#waits.set(requestId, waits);
      }
      waits.add(wait);
    });
  }

  /** Drain: every open wait is cancelled on the cluster and answered UNAVAILABLE. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const open = [...this.#waits.values()].flatMap((waits) => [...waits]);
    this.#waits.clear();
    for (const wait of open) {
      clearTimeout(wait.timer);
      wait.resolve(
        apiError('UNAVAILABLE', 'the node is draining: send the request to another node'),
      );
    }
    await Promise.allSettled(
      open.map((wait) =>
        this.context.operations.command({
          op: 'cancel',
          requestId: wait.requestId,
          sessionId: wait.sessionId,
        }),
      ),
    );
  }
}

function lockOperations(waits: LockWaits, plain: ServiceOperations): ServiceOperations {
  return {
    query: (payload) => plain.query(payload),
    async command(payload: unknown, session?: CommandSession): Promise<OperationResult> {
      const command = payload as LockClientCommand;
      if (command.op !== 'acquire' && command.op !== 'upgrade')
        return plain.command(payload, session);
      const waitHere = command.op === 'upgrade' || command.wait !== false;
      // A wait the node answers itself is bounded by the node's request timeout.
      const timeoutMs = waitHere
        ? Math.min(command.timeoutMs, waits.waitTimeoutMsMax)
        : command.timeoutMs;
      const result = await plain.command({ ...command, timeoutMs }, session);
      if (!result.ok || !waitHere) return result;
      const value = result.value as { queued?: boolean; requestId?: number };
      if (value.queued !== true || value.requestId === undefined) return result;
      return waits.wait({ requestId: value.requestId, sessionId: command.sessionId, timeoutMs });
    },
  };
}

const GrantSchema = z.object({
  token: z.number().int().meta({ description: 'Fencing token: the Raft index of the grant.' }),
  mode: LockModeSchema,
  holdCount: z.number().int(),
});
const HolderSchema = z.object({
  sessionId: z.string(),
  mode: LockModeSchema,
  token: z.number().int(),
  sinceMs: z.number(),
  holdCount: z.number().int(),
});
const WaiterSchema = z.object({
  requestId: z.number().int(),
  sessionId: z.string(),
  mode: LockModeSchema,
  sinceMs: z.number(),
  deadlineMs: z.number(),
  upgrade: z.boolean(),
});
const LockViewSchema = z.object({
  name: z.string(),
  holders: z.array(HolderSchema),
  waiters: z.array(WaiterSchema),
});

export const LockAcquireBodySchema = z.strictObject({
  sessionId: LockSessionIdSchema,
  mode: LockModeSchema.default('exclusive'),
  /** 0 (the default) is a try-lock. */
  timeoutMs: LockTimeoutMsSchema.default(0),
  reentrant: z.boolean().optional(),
});
export const LockReleaseBodySchema = z.strictObject({
  sessionId: LockSessionIdSchema,
  token: z.number().int().min(1).optional(),
});
export const LockUpgradeBodySchema = z.strictObject({
  sessionId: LockSessionIdSchema,
  timeoutMs: LockTimeoutMsSchema.default(0),
});

/** The lock name of a path, or a BAD_REQUEST result. */
function lockName(params: Readonly<Record<string, string>>): { name: string } | OperationResult {
  const checked = LockNameSchema.safeParse(params.name ?? '');
  return checked.success
    ? { name: checked.data }
    : apiError('BAD_REQUEST', `name: ${checked.error.issues[0]?.message ?? 'invalid'}`);
}

function lockRoutes(): RouteSpec[] {
  const acquireErrors = [
    'TIMEOUT',
    'DEADLOCK',
    'ALREADY_HELD',
    'TOO_MANY_WAITERS',
    'SESSION_EXPIRED',
    'LIMIT_REACHED',
  ] as const;
  return [
    {
      method: 'post',
      path: '/v1/locks/{name}/acquire',
      summary: 'Acquire a lock for a session: answers once granted, or TIMEOUT / DEADLOCK',
      body: LockAcquireBodySchema,
      response: GrantSchema,
      errors: [...acquireErrors],
      handle: ({ params, body, operations, session }) => {
        const lock = lockName(params);
        if (!('name' in lock)) return Promise.resolve(lock);
        const { sessionId, mode, timeoutMs, reentrant } = body as z.infer<
          typeof LockAcquireBodySchema
        >;
        return operations.command(
          {
            op: 'acquire',
            name: lock.name,
            sessionId,
            mode,
            timeoutMs,
            ...(reentrant === undefined ? {} : { reentrant }),
          },
          session,
        );
      },
    },
    {
      method: 'post',
      path: '/v1/locks/{name}/release',
      summary: 'Release a lock the session holds (a reentrant lock counts down)',
      body: LockReleaseBodySchema,
      response: z.object({ released: z.boolean(), holdCount: z.number().int() }),
      errors: ['NOT_HELD'],
      handle: ({ params, body, operations, session }) => {
        const lock = lockName(params);
        if (!('name' in lock)) return Promise.resolve(lock);
        const { sessionId, token } = body as z.infer<typeof LockReleaseBodySchema>;
        return operations.command(
          { op: 'release', name: lock.name, sessionId, ...(token === undefined ? {} : { token }) },
          session,
        );
      },
    },
    {
      method: 'post',
      path: '/v1/locks/{name}/upgrade',
      summary: 'Turn a shared hold into an exclusive one (waits for the other readers)',
      body: LockUpgradeBodySchema,
      response: GrantSchema,
      errors: ['TIMEOUT', 'DEADLOCK', 'NOT_HELD', 'ALREADY_HELD', 'TOO_MANY_WAITERS'],
      handle: ({ params, body, operations, session }) => {
        const lock = lockName(params);
        if (!('name' in lock)) return Promise.resolve(lock);
        const { sessionId, timeoutMs } = body as z.infer<typeof LockUpgradeBodySchema>;
        return operations.command(
          { op: 'upgrade', name: lock.name, sessionId, timeoutMs },
          session,
        );
      },
    },
    {
      method: 'get',
      path: '/v1/locks/{name}',
      summary: 'Holders and waiters of a lock (linearizable)',
      response: LockViewSchema,
      errors: [],
      handle: ({ params, operations }) => {
        const lock = lockName(params);
        if (!('name' in lock)) return Promise.resolve(lock);
        return operations.query({ op: 'get', name: lock.name });
      },
    },
    {
      method: 'get',
      path: '/v1/locks',
      summary: 'Every lock held or waited for, by name (the first 1000)',
      response: z.object({ locks: z.array(LockViewSchema), next: z.string().optional() }),
      errors: [],
      handle: ({ operations }) => operations.query({ op: 'list' }),
    },
  ];
}

function registerLockMetrics(registry: Registry, machine: LockStateMachine): void {
  const gauges: [string, string, () => number][] = [
    ['distsync_lock_held', 'Lock holds on this replica', () => machine.heldCount()],
    ['distsync_lock_waiting', 'Queued lock requests on this replica', () => machine.waitingCount()],
    [
      'distsync_lock_deadlocks',
      'Lock requests refused as deadlock victims since the process started',
      () => machine.deadlockCount(),
    ],
    [
      'distsync_lock_session_expiry_releases',
      'Locks released because their session expired, since the process started',
      () => machine.sessionExpiryReleaseCount(),
    ],
  ];
  for (const [name, help, read] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  }
  const waited = new Histogram({
    name: 'distsync_lock_wait_seconds',
    help: 'How long queued lock requests waited for their grant',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    registers: [registry],
  });
  machine.onEvent((event) => {
    if (event.type === 'granted') waited.observe(event.waitedMs / 1000);
  });
}

export function lockService(options: LockServiceOptions): ServiceDefinition {
  const machine = createLockStateMachine({
    sessions: options.sessions,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  });
  return {
    name: 'lock',
    stateMachine: machine,
    clientCommandSchema: LockClientCommandSchema,
    clientQuerySchema: LockQuerySchema,
    routes: lockRoutes(),
    registerMetrics: (registry) => {
      registerLockMetrics(registry, machine);
    },
    start: (context): ServiceRuntime => {
      const waits = new LockWaits(machine, context, options.waitTimeoutMsMax);
      return {
        operations: lockOperations(waits, context.operations),
        authorizeSubscribe: (topic) =>
          topic.startsWith('lock/session/')
            ? { ok: true, value: null }
            : apiError('BAD_REQUEST', `lock topics are lock/session/<sessionId> (got ${topic})`),
        status: () => ({
          held: machine.heldCount(),
          waiting: machine.waitingCount(),
          waitingHere: waits.size,
        }),
        stop: () => waits.stop(),
      };
    },
  };
}
