// Cluster status: every node's view, the agreed leader, readiness and the services it hosts.
import { agreedLeader } from '../cluster.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { showCluster, waitForLeader } from '../views.js';

async function run(context: ScenarioContext): Promise<void> {
  const { ui, cluster } = context;
  await waitForLeader(context, {
    label: 'a leader, and every node answering and ready',
    everyReady: true,
  });
  const rows = await showCluster(context);
  const statuses = rows.map((row) => row.status);
  const answering = statuses.filter((status) => status !== undefined);
  const leader = agreedLeader(statuses, cluster.members.length);
  const services = answering[0]?.services ?? [];
  ui.step(`services: ${services.join(', ') || '-'}`);
  if (cluster.logDir !== undefined) ui.note(`node logs: ${cluster.logDir}/<id>.log`);
  context.check(
    `${answering.length} of ${cluster.members.length} nodes answer /status`,
    answering.length === cluster.members.length,
  );
  context.check(
    leader === undefined
      ? 'no leader agreed by a majority'
      : `one leader, ${leader.id} (term ${leader.term}), agreed by every answering node`,
    leader !== undefined && answering.every((status) => status.leader === leader.id),
  );
  context.check(
    `every answering node is ready (has a leader, applied = commit)`,
    answering.every((status) => status.ready),
  );
}

export const statusScenario: Scenario = {
  name: 'status',
  title: 'Cluster status',
  summary: 'every node: role, term, leader, indexes, readiness, services',
  run,
};
