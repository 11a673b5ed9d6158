// Nemeses: the faults a campaign injects, one at a time, on a seeded schedule: a quiet gap, a
// fault held for a while, the heal. Every fault is recorded with its start and end times.
import type { Cluster, NodeFaults } from './cluster/cluster.js';
import { TestkitError } from './errors.js';
import type { Random } from './random.js';
import { pause } from './workloads/types.js';

export const NEMESES = [
  'kill',
  'kill-leader',
  'pause',
  'pause-leader',
  'partition-one',
  'partition-leader',
  'partition-majority',
  'partition-majorities-ring',
  'partition-minority-third',
  'partition-one-way',
  'clock-offset',
  'clock-skew',
  'disk-slow-fsync',
  'disk-enospc',
  'disk-eio',
] as const;
export type NemesisKind = (typeof NEMESES)[number];

/** Names the CLI takes: each kind, the groups, and `none`. */
export const NEMESIS_GROUPS: Readonly<Record<string, readonly NemesisKind[]>> = {
  none: [],
  kill: ['kill', 'kill-leader'],
  pause: ['pause', 'pause-leader'],
  partition: [
    'partition-one',
    'partition-leader',
    'partition-majority',
    'partition-majorities-ring',
    'partition-minority-third',
    'partition-one-way',
  ],
  clock: ['clock-offset', 'clock-skew'],
  disk: ['disk-slow-fsync', 'disk-enospc', 'disk-eio'],
  all: NEMESES,
};

/** Kinds that need the nodes started with fault injection (`POST /v1/debug/faults`). */
export function needsFaultInjection(kinds: readonly NemesisKind[]): boolean {
  return kinds.some((kind) => kind.startsWith('clock-') || kind.startsWith('disk-'));
}

/** The default bound of clock offsets, in ms either way. */
export const CLOCK_OFFSET_MS_MAX_DEFAULT = 2000;
/** The default bound of clock rate deviations: rates in [0.8, 1.2]. */
/**
 * Clock rates drawn in 1 ± this. The default is the drift bound distsync's leases assume (1%,
 * far beyond a real oscillator's 0.01%); larger deviations explore outside the fault model.
 */
export const CLOCK_RATE_DEVIATION_MAX_DEFAULT = 0.01;

/** `kill,partition-one` -> the kinds; throws BAD_OPTION naming an unknown one. */
export function parseNemeses(text: string): NemesisKind[] {
  const kinds = new Set<NemesisKind>();
  for (const name of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const group = NEMESIS_GROUPS[name];
    if (group !== undefined) for (const kind of group) kinds.add(kind);
    else if ((NEMESES as readonly string[]).includes(name)) kinds.add(name as NemesisKind);
    else {
      throw new TestkitError(
        'BAD_OPTION',
        `--nemesis: unknown ${JSON.stringify(name)}; expected one of ${[...Object.keys(NEMESIS_GROUPS), ...NEMESES].join(', ')}`,
      );
    }
  }
  return [...kinds];
}

export interface FaultRecord {
  readonly kind: NemesisKind;
  /** What was done, e.g. `kill -9 n2 (leader)` or `cut n1|n2,n3`. */
  readonly description: string;
  readonly nodes: readonly string[];
  readonly startMs: number;
  endMs: number | null;
}

export interface NemesisOptions {
  readonly kinds: readonly NemesisKind[];
  /** Quiet time between faults, drawn in [min, max] ms. */
  readonly quietMs?: readonly [number, number];
  /** How long a fault is held, drawn in [min, max] ms. */
  readonly holdMs?: readonly [number, number];
  /** Take the kinds in turn instead of at random (tests use it to be sure each one ran). */
  readonly rotate?: boolean;
  /** clock-offset draws offsets in [-max, max] ms; default 2000. */
  readonly clockOffsetMsMax?: number;
  /** clock-skew draws rates in [1 - max, 1 + max]; default 0.01 (at most 0.5). */
  readonly clockRateDeviationMax?: number;
}

interface Context {
  readonly cluster: Cluster;
  readonly clockOffsetMsMax?: number;
  readonly clockRateDeviationMax?: number;
  readonly random: Random;
  readonly now: () => number;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
}

/** A fault in place, with what undoes it. */
interface Active {
  readonly record: FaultRecord;
  heal(): Promise<void>;
}

async function target(
  context: Context,
  leader: boolean,
): Promise<{ index: number; isLeader: boolean } | undefined> {
  const candidates = context.cluster.available();
  if (leader) {
    const index = await context.cluster.leader();
    if (index !== undefined) return { index, isLeader: true };
  }
  return candidates.length === 0
    ? undefined
    : { index: context.random.pick(candidates), isLeader: false };
}

/** The partition shapes as the groups of nodes that can talk within themselves. */
export function partitionGroups(
  kind: NemesisKind,
  nodes: readonly number[],
  random: Random,
): number[][] {
  const shuffled = random.shuffle(nodes);
  switch (kind) {
    case 'partition-one':
      return [shuffled.slice(0, 1), shuffled.slice(1)];
    case 'partition-majority': {
      const majority = Math.floor(nodes.length / 2) + 1;
      return [shuffled.slice(0, majority), shuffled.slice(majority)];
    }
    case 'partition-minority-third': {
      const third = Math.max(1, Math.floor(nodes.length / 3));
      return [shuffled.slice(0, third), shuffled.slice(third)];
    }
    default:
      return [shuffled];
  }
}

/** Majorities ring: node i talks only to its ring neighbours (for 5 nodes each sees a majority of 3). */
function ringCuts(nodes: readonly number[], random: Random): [number, number][] {
  const ring = random.shuffle(nodes);
  const cuts: [number, number][] = [];
  ring.forEach((a, i) => {
    ring.forEach((b, j) => {
      const distance = Math.min(Math.abs(i - j), ring.length - Math.abs(i - j));
      if (i !== j && distance > 1) cuts.push([a, b]);
    });
  });
  return cuts;
}

function names(cluster: Cluster, nodes: readonly number[]): string[] {
  return nodes.map((index) => cluster.ids[index] ?? `#${index}`);
}

/** Some of the available nodes (at least one), in random order. */
function someNodes(context: Context): number[] {
  const available = context.random.shuffle(context.cluster.available());
  return available.slice(0, context.random.int(1, available.length));
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : ''}${ms} ms`;
}

/** Resets every fault on the nodes; a node that died or stopped answering is logged, not fatal. */
function resetFaults(context: Context, nodes: readonly number[]): () => Promise<void> {
  return async () => {
    for (const index of nodes) {
      await context.cluster.setFaults(index, { reset: true }).catch((error: unknown) => {
        context.log(
          `reset of faults failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
    }
  };
}

/** Sets faults on each target; false (and the ones set are reset) when a node refuses. */
async function setOn(
  context: Context,
  targets: readonly { index: number; faults: NodeFaults }[],
): Promise<boolean> {
  try {
    for (const { index, faults } of targets) await context.cluster.setFaults(index, faults);
    return true;
  } catch (error) {
    context.log(`faults not set: ${error instanceof Error ? error.message : String(error)}`);
    await resetFaults(
      context,
      targets.map((target) => target.index),
    )();
    return false;
  }
}

type Recorder = (description: string, nodes: readonly number[]) => FaultRecord;

/**
 * clock-offset: clocks up to ±max away from real time on some followers; clock-skew: rates
 * 1 ± max on some nodes. A node stamps entries from the monotonic clock since its start, so a
 * running leader's clock cannot step (only a restart or a rate can move it): offsets are set
 * and cleared only on nodes that do not lead at that moment, and a follower given an offset
 * that is elected later leads with it (a new leader's clock ahead of the old one's).
 */
async function startClockFault(
  context: Context,
  input: { kind: 'clock-offset' | 'clock-skew'; record: Recorder },
): Promise<Active | undefined> {
  const leader = input.kind === 'clock-offset' ? await context.cluster.leader() : undefined;
  const nodes = someNodes(context).filter((index) => index !== leader);
  if (nodes.length === 0) return undefined;
  const max = context.clockOffsetMsMax ?? CLOCK_OFFSET_MS_MAX_DEFAULT;
  const targets = nodes.map((index) => {
    const name = names(context.cluster, [index]).join('');
    if (input.kind === 'clock-offset') {
      const offsetMs = context.random.int(-max, max);
      return { index, faults: { clock: { offsetMs } }, label: `${name} ${signed(offsetMs)}` };
    }
    const deviation = context.clockRateDeviationMax ?? CLOCK_RATE_DEVIATION_MAX_DEFAULT;
    const rate = Math.round((1 + (context.random.next() * 2 - 1) * deviation) * 1000) / 1000;
    return { index, faults: { clock: { rate } }, label: `${name} x${rate}` };
  });
  if (!(await setOn(context, targets))) return undefined;
  const parts = targets.map((item) => item.label);
  const what = input.kind === 'clock-offset' ? 'clock offset' : 'clock rate';
  return {
    record: input.record(`${what} ${parts.join(', ')}`, nodes),
    heal:
      input.kind === 'clock-offset'
        ? async () => {
            const leaderNow = await context.cluster.leader();
            const kept = nodes.filter((index) => index === leaderNow);
            if (kept.length > 0) {
              context.log(
                `clock offset kept on ${names(context.cluster, kept).join('')}: it leads now, and a leader's clock cannot step`,
              );
            }
            await resetFaults(
              context,
              nodes.filter((index) => index !== leaderNow),
            )();
          }
        : async () => {
            // Back to the real rate without a step: a drifted clock is slewed, never jumped.
            for (const index of nodes) {
              await context.cluster
                .setFaults(index, { clock: { rate: 1 } })
                .catch((error: unknown) => {
                  context.log(
                    `rate reset failed: ${error instanceof Error ? error.message : String(error)}`,
                  );
                });
            }
          },
  };
}

/**
 * disk-slow-fsync: every fsync of a node (the leader half the time) waits 50-400 ms;
 * disk-enospc: its writes fail with ENOSPC for the hold (it must stall, then go on).
 */
async function startDiskStall(
  context: Context,
  input: { kind: 'disk-slow-fsync' | 'disk-enospc'; record: Recorder },
): Promise<Active | undefined> {
  const chosen = await target(context, context.random.next() < 0.5);
  if (chosen === undefined) return undefined;
  const syncDelayMs = context.random.int(50, 400);
  const faults: NodeFaults =
    input.kind === 'disk-slow-fsync' ? { disk: { syncDelayMs } } : { disk: { noSpace: true } };
  if (!(await setOn(context, [{ index: chosen.index, faults }]))) return undefined;
  const who = `${names(context.cluster, [chosen.index]).join('')}${chosen.isLeader ? ' (leader)' : ''}`;
  const label =
    input.kind === 'disk-slow-fsync' ? `fsync +${syncDelayMs} ms on ${who}` : `ENOSPC on ${who}`;
  return {
    record: input.record(label, [chosen.index]),
    heal: resetFaults(context, [chosen.index]),
  };
}

/** How long an armed EIO may wait for the node's next write or fsync before kill -9. */
const EIO_FIRE_TIMEOUT_MS = 10_000;

/** disk-eio: the next write or fsync of a node fails with EIO: it must exit; heal restarts it. */
async function startDiskEio(context: Context, record: Recorder): Promise<Active | undefined> {
  const { cluster } = context;
  const chosen = await target(context, context.random.next() < 0.5);
  if (chosen === undefined) return undefined;
  const on = context.random.next() < 0.5 ? 'write' : 'fsync';
  const who = `${names(cluster, [chosen.index]).join('')}${chosen.isLeader ? ' (leader)' : ''}`;
  const startMs = context.now();
  cluster.expectDown(chosen.index, true);
  if (!(await setOn(context, [{ index: chosen.index, faults: { disk: { failNext: on } } }]))) {
    cluster.expectDown(chosen.index, false);
    return undefined;
  }
  const code = await cluster.waitExit(chosen.index, EIO_FIRE_TIMEOUT_MS);
  let outcome: string;
  if (code === undefined) {
    await cluster.kill(chosen.index);
    outcome = `still running ${EIO_FIRE_TIMEOUT_MS / 1000} s later: kill -9`;
  } else {
    outcome = `exited ${code} after ${Math.round(context.now() - startMs)} ms`;
  }
  return {
    record: { ...record(`EIO on next ${on} of ${who}: ${outcome}`, [chosen.index]), startMs },
    heal: restartNode(context, chosen.index),
  };
}

/** Restarts a node that a fault stopped and waits for it, so the next fault finds a majority. */
function restartNode(context: Context, index: number): () => Promise<void> {
  const { cluster } = context;
  return async () => {
    cluster.start(index);
    cluster.expectDown(index, false);
    // The next fault waits for the restart, or two kills in a row would be a lost majority.
    if (!(await cluster.waitNodeReady(index))) {
      context.log(`${names(cluster, [index]).join('')} not ready 30 s after its restart`);
    }
  };
}

async function startFault(context: Context, kind: NemesisKind): Promise<Active | undefined> {
  const { cluster } = context;
  const record = (description: string, nodes: readonly number[]): FaultRecord => ({
    kind,
    description,
    nodes: names(cluster, nodes),
    startMs: context.now(),
    endMs: null,
  });
  switch (kind) {
    case 'kill':
    case 'kill-leader': {
      const chosen = await target(context, kind === 'kill-leader');
      if (chosen === undefined) return undefined;
      cluster.expectDown(chosen.index, true);
      await cluster.kill(chosen.index);
      const label = `kill -9 ${names(cluster, [chosen.index]).join('')}${chosen.isLeader ? ' (leader)' : ''}`;
      return { record: record(label, [chosen.index]), heal: restartNode(context, chosen.index) };
    }
    case 'pause':
    case 'pause-leader': {
      const chosen = await target(context, kind === 'pause-leader');
      if (chosen === undefined) return undefined;
      cluster.pause(chosen.index);
      const label = `SIGSTOP ${names(cluster, [chosen.index]).join('')}${chosen.isLeader ? ' (leader)' : ''}`;
      return {
        record: record(label, [chosen.index]),
        heal: () => {
          cluster.resume(chosen.index);
          return Promise.resolve();
        },
      };
    }
    case 'partition-leader': {
      const chosen = await target(context, true);
      if (chosen === undefined) return undefined;
      const others = [...Array(cluster.size).keys()].filter((index) => index !== chosen.index);
      cluster.cutBetween([chosen.index], others);
      return {
        record: record(
          `isolate ${names(cluster, [chosen.index]).join('')}${chosen.isLeader ? ' (leader)' : ''}`,
          [chosen.index],
        ),
        heal: healLinks(cluster),
      };
    }
    case 'partition-one-way': {
      const chosen = await target(context, context.random.next() < 0.5);
      if (chosen === undefined) return undefined;
      const others = [...Array(cluster.size).keys()].filter((index) => index !== chosen.index);
      const outbound = context.random.next() < 0.5;
      for (const other of others) {
        if (outbound) cluster.cut(chosen.index, other);
        else cluster.cut(other, chosen.index);
      }
      const who = names(cluster, [chosen.index]).join('');
      const label = outbound
        ? `one-way: ${who} cannot send to the others`
        : `one-way: ${who} cannot receive from the others`;
      return {
        record: record(`${label}${chosen.isLeader ? ' (leader)' : ''}`, [chosen.index]),
        heal: healLinks(cluster),
      };
    }
    case 'partition-majorities-ring': {
      // With fewer than 5 nodes every node's ring neighbours are all the others: no cut at all.
      if (cluster.size < 5) return undefined;
      const cuts = ringCuts([...Array(cluster.size).keys()], context.random);
      for (const [from, to] of cuts) cluster.cut(from, to);
      return {
        record: record(`majorities ring: cut ${cluster.cuts().join(' ')}`, []),
        heal: healLinks(cluster),
      };
    }
    case 'partition-one':
    case 'partition-majority':
    case 'partition-minority-third': {
      const groups = partitionGroups(kind, [...Array(cluster.size).keys()], context.random);
      const [a = [], b = []] = groups;
      cluster.cutBetween(a, b);
      const label = `partition ${names(cluster, a).join(',')} | ${names(cluster, b).join(',')}`;
      return { record: record(label, a), heal: healLinks(cluster) };
    }
    case 'clock-offset':
    case 'clock-skew':
      return startClockFault(context, { kind, record });
    case 'disk-slow-fsync':
    case 'disk-enospc':
      return startDiskStall(context, { kind, record });
    case 'disk-eio':
      return startDiskEio(context, record);
  }
}

function healLinks(cluster: Cluster): () => Promise<void> {
  return () => {
    cluster.heal();
    return Promise.resolve();
  };
}

/**
 * Runs faults until `context.signal` aborts, then heals whatever is in place. Returns the
 * faults injected, in order.
 */
export async function runNemesis(
  context: Context,
  options: NemesisOptions,
  faults: FaultRecord[],
): Promise<void> {
  if (options.kinds.length === 0) return;
  const faultContext: Context = {
    ...context,
    ...(options.clockOffsetMsMax === undefined
      ? {}
      : { clockOffsetMsMax: options.clockOffsetMsMax }),
    ...(options.clockRateDeviationMax === undefined
      ? {}
      : { clockRateDeviationMax: Math.min(0.5, options.clockRateDeviationMax) }),
  };
  const quiet = options.quietMs ?? [2000, 4000];
  const hold = options.holdMs ?? [3000, 6000];
  const kinds = options.kinds.filter(
    (kind) => kind !== 'partition-majorities-ring' || context.cluster.size >= 5,
  );
  if (kinds.length < options.kinds.length)
    context.log('partition-majorities-ring needs 5 nodes: skipped');
  let turn = 0;
  while (kinds.length > 0 && !context.signal.aborted) {
    await pause(context.random.int(...quiet), context.signal);
    if (isAborted(context.signal)) break;
    const kind = options.rotate === true ? kinds[turn % kinds.length] : context.random.pick(kinds);
    turn += 1;
    if (kind === undefined) break;
    const active = await startFault(faultContext, kind);
    if (active === undefined) continue;
    faults.push(active.record);
    context.log(`fault: ${active.record.description}`);
    await pause(context.random.int(...hold), context.signal);
    await active.heal();
    active.record.endMs = context.now();
    context.log(`healed: ${active.record.description}`);
  }
}

/** Read through a call, so the check after an await is not narrowed away. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
