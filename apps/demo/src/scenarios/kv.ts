// Key-value: linearizable writes and reads through any node, versions that are Raft indexes, and
// a compare-and-set that loses to a concurrent writer.
import { RemoteError } from '@distsync/transport-ws';
import { requestJson } from '../http.js';
import type { Scenario, ScenarioContext } from '../scenario.js';

async function run(context: ScenarioContext): Promise<void> {
  const { ui, cluster } = context;
  const key = `${context.prefix}/greeting`;
  const alice = await context.connect();
  const bob = await context.connect();
  const first = (await alice.command('kv', { op: 'put', key, value: 'hello' })) as {
    version: number;
  };
  ui.step(`alice puts ${key} = "hello": version ${first.version} (the Raft index of the write)`);
  const reads = await Promise.all(
    cluster.members.map(async (member) => {
      const answer = await requestJson(`${member.url}/v1/kv/${encodeURIComponent(key)}`, {
        token: context.token,
      });
      return { id: member.id, answer };
    }),
  );
  for (const read of reads) {
    ui.note(
      `GET ${read.id}/v1/kv/${key} -> ${read.answer.status} ${JSON.stringify(read.answer.body)}`,
    );
  }
  context.check(
    'every node returns the new value (reads are linearizable: followers ask the leader for its commit index)',
    reads.every(
      ({ answer }) =>
        answer.status === 200 && (answer.body as { value?: unknown }).value === 'hello',
    ),
  );
  const second = (await bob.command('kv', {
    op: 'cas',
    key,
    expectedVersion: first.version,
    value: 'bob was here',
  })) as { version: number };
  ui.step(`bob compare-and-sets it from version ${first.version}: version ${second.version}`);
  let code: string | undefined;
  try {
    await alice.command('kv', { op: 'cas', key, expectedVersion: first.version, value: 'alice' });
  } catch (error) {
    code = error instanceof RemoteError ? error.code : String(error);
  }
  ui.step(`alice compare-and-sets from the stale version ${first.version}: ${code ?? 'applied'}`);
  context.check('the stale compare-and-set is refused with CONFLICT', code === 'CONFLICT');
  const final = (await alice.query('kv', { op: 'get', key })) as {
    value: unknown;
    version: number;
  };
  context.check(
    `the value is bob's (${JSON.stringify(final.value)}, version ${final.version})`,
    final.value === 'bob was here' && final.version === second.version,
  );
  await alice.command('kv', { op: 'delete', key });
}

export const kvScenario: Scenario = {
  name: 'kv',
  title: 'Key-value',
  summary: 'linearizable reads on every node, versions, a compare-and-set that loses',
  service: 'kv',
  run,
};
