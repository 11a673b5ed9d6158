// Raft: every node's role, term and log indexes; the leader is killed (kill -9) and the others
// elect a new one in a higher term; writes go on with two of three nodes; the old leader comes
// back on its own data and catches up to the new commit index as a follower.
import type { ClusterConnection } from '@distsync/transport-ws';
import { fetchStatus, pollUntil, type NodeStatus } from '../cluster.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { showCluster, waitForLeader } from '../views.js';

const WRITES_PER_PHASE = 5;
const CATCH_UP_TIMEOUT_MS = 60_000;

async function writeKeys(input: {
  context: ScenarioContext;
  connection: ClusterConnection;
  from: number;
}): Promise<number> {
  const { context, connection, from } = input;
  let lastIndex = 0;
  for (let offset = 0; offset < WRITES_PER_PHASE; offset += 1) {
    const answer = (await connection.command('kv', {
      op: 'put',
      key: `${context.prefix}/raft/${from + offset}`,
      value: { n: from + offset },
    })) as { index: number };
    lastIndex = answer.index;
  }
  return lastIndex;
}

async function killLeader(
  context: ScenarioContext,
  leader: NodeStatus,
): Promise<NodeStatus | undefined> {
  const { ui, cluster } = context;
  ui.step(
    `kill -9 ${ui.paint('accent', leader.id)}, the leader of term ${leader.term} (its log ends at index ${leader.lastIndex})`,
  );
  const crashedMs = Date.now();
  await cluster.kill(leader.id, 'SIGKILL');
  const survivors = cluster.members.filter((member) => member.id !== leader.id);
  const next = await waitForLeader(context, {
    label: `the survivors (${survivors.map((member) => member.id).join(', ')}) elect a new leader`,
    among: survivors,
    newerThanTerm: leader.term,
  });
  context.check(
    next === undefined
      ? `no new leader among ${survivors.map((member) => member.id).join(', ')}`
      : `${next.id} elected leader in term ${next.term} (> ${leader.term}) ${Date.now() - crashedMs} ms after the crash`,
    next !== undefined && next.id !== leader.id && next.term > leader.term,
  );
  return next;
}

async function restartAndCatchUp(input: {
  context: ScenarioContext;
  old: NodeStatus;
  leader: NodeStatus;
  targetIndex: number;
}): Promise<void> {
  const { context, old, leader, targetIndex } = input;
  const { ui, cluster } = context;
  const member = cluster.members.find((candidate) => candidate.id === old.id);
  if (member === undefined) return;
  ui.step(`restart ${ui.paint('accent', old.id)} on its own data directory (WAL and snapshot)`);
  const restartedMs = Date.now();
  await cluster.restart(old.id);
  const caughtUp = await ui.wait(
    `${old.id} catches up to commit index ${targetIndex}`,
    (progress) =>
      pollUntil({
        signal: context.signal,
        timeoutMs: CATCH_UP_TIMEOUT_MS,
        check: async () => {
          const status = await fetchStatus(member.url);
          progress(
            status === undefined
              ? 'starting'
              : `${status.role}, term ${status.term}, applied ${status.appliedIndex}/${targetIndex}`,
          );
          return status !== undefined &&
            status.appliedIndex >= targetIndex &&
            status.role === 'follower' &&
            status.leader !== null
            ? status
            : undefined;
        },
      }),
  );
  context.check(
    caughtUp === undefined
      ? `${old.id} did not catch up to index ${targetIndex}`
      : `${old.id} is a follower of ${caughtUp.leader ?? leader.id} in term ${caughtUp.term}, applied index ${caughtUp.appliedIndex} >= ${targetIndex}, ${Date.now() - restartedMs} ms after its restart`,
    caughtUp !== undefined,
  );
}

async function run(context: ScenarioContext): Promise<void> {
  const { ui, cluster } = context;
  const leader = await waitForLeader(context, { label: 'a leader that a majority agrees on' });
  if (
    !context.check(
      `leader ${leader?.id ?? '-'} in term ${leader?.term ?? '-'}`,
      leader !== undefined,
    ) ||
    leader === undefined
  )
    return;
  await showCluster(context);
  const connection = await context.connect();
  const index = await writeKeys({ context, connection, from: 1 });
  ui.step(
    `wrote ${WRITES_PER_PHASE} keys through ${leader.id}: the last one is log entry ${index}`,
  );
  if (!cluster.embedded) {
    ui.note(
      'Killing and restarting nodes needs the embedded cluster (run the demo without --endpoints).',
    );
    return;
  }
  // Ask again right before the kill: on a loaded machine leadership may have moved meanwhile.
  const before =
    (await waitForLeader(context, { label: 'the current leader, with its last log index' })) ??
    leader;
  const next = await killLeader(context, before);
  if (next === undefined) return;
  await showCluster(context);
  const target = await writeKeys({ context, connection, from: WRITES_PER_PHASE + 1 });
  context.check(
    `${WRITES_PER_PHASE} more writes committed with ${before.id} down (2 of 3 nodes are a majority), up to index ${target}`,
    target > before.lastIndex,
  );
  const commit = (await fetchStatus(next.url))?.commitIndex ?? target;
  await restartAndCatchUp({
    context,
    old: before,
    leader: next,
    targetIndex: Math.max(commit, target),
  });
  await showCluster(context);
}

export const raftScenario: Scenario = {
  name: 'raft',
  title: 'Raft',
  summary:
    'leader, term and log of every node; kill the leader, watch the election and the catch-up',
  run,
};
