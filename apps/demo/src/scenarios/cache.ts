// Cache: two nodes read and write one key and the directory's MESI state of every node's line is
// shown after each step (a write leaves one Modified copy and invalidates the others, a read on
// another node shares it); then a small read-mostly workload over a few keys shows the hit rate,
// and every read returns the latest acknowledged write.
import { requestJson } from '../http.js';
import type { Member } from '../cluster.js';
import type { Scenario, ScenarioContext } from '../scenario.js';

const WORKLOAD_KEYS = 8;
const WORKLOAD_OPERATIONS = 160;
/** One operation in ten is a write. */
const WRITE_EVERY = 10;

interface States {
  readonly version: number;
  readonly nodes: readonly { id: string; state: string; version: number }[];
}

interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly invalidationsSent: number;
  readonly invalidationsReceived: number;
  readonly writeBacks: number;
}

function path(key: string): string {
  return `/v1/cache/${encodeURIComponent(key)}`;
}

/** A node to call, with the token its cluster wants (if any). */
interface Target extends Member {
  readonly token: string | undefined;
}

function targets(context: ScenarioContext): Target[] {
  return context.cluster.members.map((member) => ({ ...member, token: context.token }));
}

async function put(member: Target, input: { key: string; value: unknown }): Promise<number> {
  const answer = await requestJson(`${member.url}${path(input.key)}`, {
    method: 'PUT',
    body: { value: input.value },
    token: member.token,
  });
  if (answer.status !== 200)
    throw new Error(`PUT ${input.key} on ${member.id}: ${JSON.stringify(answer.body)}`);
  return (answer.body as { version: number }).version;
}

async function get(
  member: Target,
  key: string,
): Promise<{ value: unknown; state: string; version: number }> {
  const answer = await requestJson(`${member.url}${path(key)}`, { token: member.token });
  if (answer.status !== 200)
    throw new Error(`GET ${key} on ${member.id}: ${JSON.stringify(answer.body)}`);
  return answer.body as { value: unknown; state: string; version: number };
}

async function states(member: Target, key: string): Promise<States> {
  return (await requestJson(`${member.url}${path(key)}/states`, { token: member.token }))
    .body as States;
}

async function stats(member: Target): Promise<CacheStats> {
  return (await requestJson(`${member.url}/v1/cache/stats`, { token: member.token }))
    .body as CacheStats;
}

/** Prints every node's line state and returns them as `n1:M n2:I n3:I`. */
async function showStates(context: ScenarioContext, key: string): Promise<string> {
  const [first] = targets(context);
  if (first === undefined) return '';
  const view = await states(first, key);
  const nodes = view.nodes.filter((node) => !node.id.startsWith('session:'));
  const tones: Record<string, 'accent' | 'info' | 'ok' | 'dim'> = {
    M: 'accent',
    E: 'info',
    S: 'ok',
    I: 'dim',
  };
  context.ui.line(
    `    ${nodes.map((node) => `${node.id} ${context.ui.paint(tones[node.state] ?? 'dim', node.state)}`).join('   ')}   (version ${view.version})`,
  );
  return nodes.map((node) => `${node.id}:${node.state}`).join(' ');
}

async function coherence(context: ScenarioContext, [n1, n2]: readonly Target[]): Promise<void> {
  if (n1 === undefined || n2 === undefined) return;
  const { ui } = context;
  const key = `${context.prefix}/price`;
  ui.step(`${n1.id} writes ${key} = 100`);
  await put(n1, { key, value: 100 });
  const afterWrite = await showStates(context, key);
  context.check(
    `${n1.id} holds the only copy, Modified (newer than the backing store)`,
    afterWrite.startsWith(`${n1.id}:M`) && !/:[ES]/.test(afterWrite),
  );

  ui.step(`${n2.id} reads it: a miss, fetched and shared`);
  const read = await get(n2, key);
  const afterRead = await showStates(context, key);
  context.check(
    `${n2.id} reads 100 and both lines are Shared`,
    read.value === 100 && afterRead.includes(`${n1.id}:S`) && afterRead.includes(`${n2.id}:S`),
  );

  const before = await stats(n2);
  ui.step(`${n2.id} reads it again: a local hit, no network`);
  const again = await get(n2, key);
  const after = await stats(n2);
  context.check(
    `${n2.id}'s hits went from ${before.hits} to ${after.hits}`,
    again.value === 100 && after.hits === before.hits + 1,
  );

  ui.step(
    `${n2.id} writes 120: the write is acknowledged only after ${n1.id}'s copy is invalidated`,
  );
  await put(n2, { key, value: 120 });
  const afterSecond = await showStates(context, key);
  context.check(
    `${n2.id} Modified, ${n1.id} Invalid`,
    afterSecond.includes(`${n2.id}:M`) && afterSecond.includes(`${n1.id}:I`),
  );

  ui.step(`${n1.id} reads again: never the stale 100`);
  const fresh = await get(n1, key);
  await showStates(context, key);
  context.check(
    `${n1.id} reads ${JSON.stringify(fresh.value)}, the latest write`,
    fresh.value === 120,
  );
}

async function workload(context: ScenarioContext, members: readonly Target[]): Promise<void> {
  const { ui } = context;
  const keys = Array.from(
    { length: WORKLOAD_KEYS },
    (_, index) => `${context.prefix}/item-${index}`,
  );
  const latest = new Map<string, number>();
  for (const [index, key] of keys.entries()) {
    const member = members[index % members.length];
    if (member === undefined) continue;
    await put(member, { key, value: 0 });
    latest.set(key, 0);
  }
  const before = await Promise.all(members.map(stats));
  let stale = 0;
  let reads = 0;
  await ui.wait(
    `${WORKLOAD_OPERATIONS} operations on ${WORKLOAD_KEYS} keys over ${members.length} nodes, one in ${WRITE_EVERY} a write`,
    async (progress) => {
      for (let step = 0; step < WORKLOAD_OPERATIONS; step += 1) {
        if (context.signal.aborted) return;
        // A fixed pattern (no randomness): keys and nodes rotate at different strides.
        const key = keys[(step * 3) % keys.length] ?? '';
        const member = members[(step * 7) % members.length];
        if (member === undefined) continue;
        if (step % WRITE_EVERY === WRITE_EVERY - 1) {
          const value = (latest.get(key) ?? 0) + 1;
          await put(member, { key, value });
          latest.set(key, value);
        } else {
          const read = await get(member, key);
          reads += 1;
          if (read.value !== latest.get(key)) stale += 1;
        }
        if (step % 20 === 0) progress(`${step}/${WORKLOAD_OPERATIONS}`);
      }
    },
  );
  const afterStats = await Promise.all(members.map(stats));
  const rows = members.map((member, index) => {
    const was = before[index];
    const now = afterStats[index];
    const hits = (now?.hits ?? 0) - (was?.hits ?? 0);
    const misses = (now?.misses ?? 0) - (was?.misses ?? 0);
    const invalidations = (now?.invalidationsReceived ?? 0) - (was?.invalidationsReceived ?? 0);
    return { id: member.id, hits, misses, invalidations };
  });
  ui.table({
    header: ['NODE', 'HITS', 'MISSES', 'HIT RATE', 'INVALIDATED'],
    rows: rows.map((row) => [
      row.id,
      String(row.hits),
      String(row.misses),
      `${((100 * row.hits) / Math.max(1, row.hits + row.misses)).toFixed(0)}%`,
      String(row.invalidations),
    ]),
  });
  const hits = rows.reduce((sum, row) => sum + row.hits, 0);
  const misses = rows.reduce((sum, row) => sum + row.misses, 0);
  context.check(
    `hit rate ${((100 * hits) / Math.max(1, hits + misses)).toFixed(0)}% (${hits} hits, ${misses} misses); ${reads - stale} of ${reads} reads returned the latest write`,
    stale === 0 && hits > 0 && hits + misses >= reads,
  );
}

async function run(context: ScenarioContext): Promise<void> {
  const members = targets(context);
  await coherence(context, members);
  await workload(context, members);
}

export const cacheScenario: Scenario = {
  name: 'cache',
  title: 'Cache',
  summary:
    'MESI states of every node while two nodes read and write one key; hit rate under a small workload',
  service: 'cache',
  run,
};
