// The fenced mutex checker (Chubby's sequencers, Kleppmann's fencing tokens): for each lock,
// (1) at most one holder at a time, (2) tokens strictly increasing in real-time grant order,
// (3) no write with a stale token accepted by the resource the lock protects.
//
// A client only counts as a holder while it can know it holds the lock: from its acquire's
// return to its release's call, cut at the end of the session lease it last confirmed
// (`leaseValidUntilMs`). After that the lock may rightly pass to another client, and only the
// fencing token keeps the old holder's late writes out; that is what check (3) is for.

export type Outcome = 'ok' | 'fail' | 'unknown';

export interface AcquireOp {
  readonly id: number;
  readonly process: number;
  readonly lock: string;
  readonly callMs: number;
  /** Infinity when the outcome is unknown. */
  readonly returnMs: number;
  readonly outcome: Outcome;
  /** The fencing token of a granted acquire. */
  readonly token?: number;
  /** The end of the session lease the client last confirmed; Infinity when it does not expire. */
  readonly leaseValidUntilMs?: number;
}

export interface ReleaseOp {
  readonly id: number;
  readonly process: number;
  readonly lock: string;
  readonly callMs: number;
  readonly returnMs: number;
  readonly outcome: Outcome;
}

/** A write the protected resource decided on, in the resource's own order (`order`). */
export interface ResourceWrite {
  readonly id: number;
  readonly process: number;
  readonly lock: string;
  readonly token: number;
  readonly order: number;
  readonly accepted: boolean;
}

export interface MutexHistory {
  readonly acquires: readonly AcquireOp[];
  readonly releases: readonly ReleaseOp[];
  readonly writes: readonly ResourceWrite[];
}

export type MutexViolation =
  | {
      readonly kind: 'two-holders';
      readonly lock: string;
      readonly message: string;
      /** The two grants whose hold intervals overlap, and the releases that ended them. */
      readonly window: readonly (AcquireOp | ReleaseOp)[];
    }
  | {
      readonly kind: 'token-order';
      readonly lock: string;
      readonly message: string;
      readonly window: readonly AcquireOp[];
    }
  | {
      readonly kind: 'stale-write-accepted' | 'unknown-token-write';
      readonly lock: string;
      readonly message: string;
      readonly window: readonly ResourceWrite[];
    };

export interface MutexVerdict {
  readonly valid: boolean;
  readonly grants: number;
  readonly writesAccepted: number;
  readonly writesRejected: number;
  readonly violations: readonly MutexViolation[];
}

interface Hold {
  readonly acquire: AcquireOp;
  readonly release: ReleaseOp | undefined;
  readonly fromMs: number;
  readonly toMs: number;
}

function holdsOf(lock: string, history: MutexHistory): Hold[] {
  const releases = history.releases.filter((release) => release.lock === lock);
  return history.acquires
    .filter((acquire) => acquire.lock === lock && acquire.outcome === 'ok')
    .map((acquire) => {
      const release = releases
        .filter((r) => r.process === acquire.process && r.callMs >= acquire.returnMs)
        .sort((a, b) => a.callMs - b.callMs)[0];
      const toMs = Math.min(release?.callMs ?? Infinity, acquire.leaseValidUntilMs ?? Infinity);
      return { acquire, release, fromMs: acquire.returnMs, toMs };
    });
}

function overlappingHolds(lock: string, holds: readonly Hold[]): MutexViolation[] {
  const sorted = [...holds].sort((a, b) => a.fromMs - b.fromMs);
  const violations: MutexViolation[] = [];
  let latest: Hold | undefined;
  for (const hold of sorted) {
    if (latest !== undefined && hold.fromMs < latest.toMs) {
      const window = [latest.acquire, hold.acquire, latest.release, hold.release].filter(
        (op): op is AcquireOp | ReleaseOp => op !== undefined,
      );
      violations.push({
        kind: 'two-holders',
        lock,
        message:
          `process ${hold.acquire.process} was granted ${lock} (token ${hold.acquire.token}) at ` +
          `${hold.fromMs.toFixed(1)} ms while process ${latest.acquire.process} held it ` +
          `(token ${latest.acquire.token}) from ${latest.fromMs.toFixed(1)} until ${latest.toMs.toFixed(1)} ms`,
        window,
      });
    }
    if (latest === undefined || hold.toMs > latest.toMs) latest = hold;
  }
  return violations;
}

function tokenOrder(lock: string, holds: readonly Hold[]): MutexViolation[] {
  const violations: MutexViolation[] = [];
  const byToken = new Map<number, AcquireOp>();
  for (const { acquire } of holds) {
    if (acquire.token === undefined) continue;
    const other = byToken.get(acquire.token);
    if (other !== undefined) {
      violations.push({
        kind: 'token-order',
        lock,
        message: `token ${acquire.token} granted twice (processes ${other.process} and ${acquire.process})`,
        window: [other, acquire],
      });
    }
    byToken.set(acquire.token, acquire);
  }
  // A grant that returned before another was even asked for must carry the smaller token.
  const byReturn = holds.map((hold) => hold.acquire).sort((a, b) => a.returnMs - b.returnMs);
  const byCall = [...byReturn].sort((a, b) => a.callMs - b.callMs);
  let index = 0;
  let highest: AcquireOp | undefined;
  for (const later of byCall) {
    for (
      ;
      index < byReturn.length && (byReturn[index]?.returnMs ?? Infinity) < later.callMs;
      index += 1
    ) {
      const earlier = byReturn[index];
      if (earlier?.token !== undefined && (highest?.token ?? -Infinity) < earlier.token)
        highest = earlier;
    }
    if (highest?.token !== undefined && later.token !== undefined && later.token <= highest.token) {
      violations.push({
        kind: 'token-order',
        lock,
        message:
          `process ${later.process} got token ${later.token} after process ${highest.process}'s ` +
          `grant with token ${highest.token} had returned: tokens must increase`,
        window: [highest, later],
      });
    }
  }
  return violations;
}

function fencedWrites(lock: string, history: MutexHistory): MutexViolation[] {
  const violations: MutexViolation[] = [];
  const granted = new Map<number, number>();
  for (const acquire of history.acquires) {
    if (acquire.lock === lock && acquire.outcome !== 'fail' && acquire.token !== undefined) {
      granted.set(acquire.token, acquire.process);
    }
  }
  const accepted = history.writes
    .filter((write) => write.lock === lock && write.accepted)
    .sort((a, b) => a.order - b.order);
  let newest: ResourceWrite | undefined;
  for (const write of accepted) {
    if (granted.get(write.token) !== write.process) {
      violations.push({
        kind: 'unknown-token-write',
        lock,
        message: `the resource accepted token ${write.token} from process ${write.process}, which was never granted it`,
        window: [write],
      });
    }
    if (newest !== undefined && write.token < newest.token) {
      violations.push({
        kind: 'stale-write-accepted',
        lock,
        message:
          `the resource accepted process ${write.process}'s write with token ${write.token} after ` +
          `process ${newest.process}'s with the newer token ${newest.token}`,
        window: [newest, write],
      });
    }
    if (newest === undefined || write.token > newest.token) newest = write;
  }
  return violations;
}

/** Checks every lock in the history. */
export function checkMutex(history: MutexHistory): MutexVerdict {
  const locks = new Set([
    ...history.acquires.map((a) => a.lock),
    ...history.writes.map((w) => w.lock),
  ]);
  const violations: MutexViolation[] = [];
  let grants = 0;
  for (const lock of [...locks].sort()) {
    const holds = holdsOf(lock, history);
    grants += holds.length;
    violations.push(
      ...overlappingHolds(lock, holds),
      ...tokenOrder(lock, holds),
      ...fencedWrites(lock, history),
    );
  }
  return {
    valid: violations.length === 0,
    grants,
    writesAccepted: history.writes.filter((write) => write.accepted).length,
    writesRejected: history.writes.filter((write) => !write.accepted).length,
    violations,
  };
}
