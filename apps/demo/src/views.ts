// Views shared by several scenarios: the cluster table and a leader wait with live progress.
import { agreedLeader, clusterStatus, pollUntil, type Member, type NodeStatus } from './cluster.js';
import type { ScenarioContext } from './scenario.js';
import type { Tone } from './ui.js';

const ELECTION_TIMEOUT_MS = 30_000;

/** Prints one row per member: role, term, leader and log indexes (down members in red). */
export async function showCluster(
  context: Pick<ScenarioContext, 'ui' | 'cluster'>,
): Promise<{ member: Member; status: NodeStatus | undefined }[]> {
  const rows = await clusterStatus(context.cluster.members);
  const tones: (Tone | undefined)[] = rows.map(({ status }) => {
    if (status === undefined) return 'fail';
    return status.role === 'leader' ? 'accent' : undefined;
  });
  context.ui.table({
    header: ['NODE', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'LAST', 'READY', 'URL'],
    rows: rows.map(({ member, status }) =>
      status === undefined
        ? [
            member.id,
            context.cluster.isRunning(member.id) ? 'no answer' : 'down',
            '-',
            '-',
            '-',
            '-',
            '-',
            '-',
            member.url,
          ]
        : [
            status.id,
            status.state === 'running' ? status.role : status.state,
            String(status.term),
            status.leader ?? '-',
            String(status.commitIndex),
            String(status.appliedIndex),
            String(status.lastIndex),
            status.ready ? 'yes' : 'no',
            member.url,
          ],
    ),
    tone: (row) => tones[row],
  });
  return rows;
}

/** A one-line summary of the answering members for a progress line. */
export function roleSummary(statuses: readonly (NodeStatus | undefined)[]): string {
  return statuses
    .filter((status): status is NodeStatus => status !== undefined)
    .map((status) => `${status.id} ${status.role} t${status.term}`)
    .join(' · ');
}

/**
 * Waits (with a progress line) for a leader that a majority of all members agree on, among
 * `among` (default: every member) and newer than `newerThanTerm`.
 */
export async function waitForLeader(
  context: Pick<ScenarioContext, 'ui' | 'cluster' | 'signal'>,
  input: {
    label: string;
    among?: readonly Member[];
    newerThanTerm?: number;
    timeoutMs?: number;
    /** Also wait until every member of `among` answers and is ready. */
    everyReady?: boolean;
  },
): Promise<NodeStatus | undefined> {
  const among = input.among ?? context.cluster.members;
  return context.ui.wait(input.label, (progress) =>
    pollUntil({
      signal: context.signal,
      timeoutMs: input.timeoutMs ?? ELECTION_TIMEOUT_MS,
      check: async () => {
        const statuses = (await clusterStatus(among)).map((row) => row.status);
        progress(roleSummary(statuses) || 'no node answers yet');
        const leader = agreedLeader(statuses, context.cluster.members.length);
        const ready = statuses.every((status) => status?.ready === true);
        return leader !== undefined &&
          leader.term > (input.newerThanTerm ?? 0) &&
          (input.everyReady !== true || ready)
          ? leader
          : undefined;
      },
    }),
  );
}
