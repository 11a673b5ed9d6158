// Nemeses: the faults a campaign injects, one at a time, on a seeded schedule: a quiet gap, a
// fault held for a while, the heal. Every fault is recorded with its start and end times.
import type { Cluster } from './cluster/cluster.js';
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
  all: NEMESES,
};

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
}

interface Context {
  readonly cluster: Cluster;
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
      return {
        record: record(label, [chosen.index]),
        heal: async () => {
          cluster.start(chosen.index);
          cluster.expectDown(chosen.index, false);
          // The next fault waits for the restart, or two kills in a row would be a lost majority.
          if (!(await cluster.waitNodeReady(chosen.index))) {
            context.log(
              `${names(cluster, [chosen.index]).join('')} not ready 30 s after its restart`,
            );
          }
        },
      };
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
    const active = await startFault(context, kind);
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
