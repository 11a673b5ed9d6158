// What the scenarios see of a cluster: its members, their /status, and (embedded only) the power
// to kill and restart a node process.

/** The fields of a node's `GET /status` the demo reads. */
export interface NodeStatus {
  readonly id: string;
  readonly url: string;
  readonly state: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly ready: boolean;
  readonly services: readonly string[];
  readonly serviceStatus?: Record<string, unknown>;
}

export interface Member {
  readonly id: string;
  /** `http://host:port`: HTTP API, `/client` and `/peer` on one port. */
  readonly url: string;
}

export interface DemoCluster {
  /** True when the demo started the nodes itself (and so may kill and restart them). */
  readonly embedded: boolean;
  readonly members: readonly Member[];
  /** Where the node logs go (embedded only). */
  readonly logDir: string | undefined;
  /** Whether the member's process runs (external clusters: always true). */
  isRunning(id: string): boolean;
  /** SIGKILL (a crash) or SIGTERM (a drain) of one node process; resolves once it exited. */
  kill(id: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts a stopped member again on the same data directory. */
  restart(id: string): Promise<void>;
  /** Stops every node (drain, SIGKILL after a grace period) and removes temporary data. */
  stop(): Promise<void>;
}

/** A member's status, or undefined when it does not answer within `timeoutMs`. */
export async function fetchStatus(url: string, timeoutMs = 3000): Promise<NodeStatus | undefined> {
  try {
    const response = await fetch(`${url}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    return (await response.json()) as NodeStatus;
  } catch {
    return undefined;
  }
}

/** Every member with its status (undefined: down or not answering). */
export async function clusterStatus(
  members: readonly Member[],
): Promise<{ member: Member; status: NodeStatus | undefined }[]> {
  return Promise.all(
    members.map(async (member) => ({ member, status: await fetchStatus(member.url) })),
  );
}

/** The leader a majority of all members agree on, or undefined. */
export function agreedLeader(
  statuses: readonly (NodeStatus | undefined)[],
  memberCount: number,
): NodeStatus | undefined {
  const majority = Math.floor(memberCount / 2) + 1;
  const answering = statuses.filter((status): status is NodeStatus => status !== undefined);
  return answering.find(
    (candidate) =>
      candidate.role === 'leader' &&
      answering.filter((status) => status.leader === candidate.id && status.term === candidate.term)
        .length >= majority,
  );
}

export class DemoAbortedError extends Error {
  constructor() {
    super('the demo was interrupted');
    this.name = 'DemoAbortedError';
  }
}

/** Polls `check` every `intervalMs` until it returns a value, the time is up or `signal` aborts. */
export async function pollUntil<T>(input: {
  check: () => Promise<T | undefined>;
  timeoutMs: number;
  signal: AbortSignal;
  intervalMs?: number;
}): Promise<T | undefined> {
  const deadline = Date.now() + input.timeoutMs;
  for (;;) {
    if (input.signal.aborted) throw new DemoAbortedError();
    const value = await input.check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await new Promise<void>((done) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        done();
      };
      const timer = setTimeout(() => {
        input.signal.removeEventListener('abort', onAbort);
        done();
      }, input.intervalMs ?? 100);
      input.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
