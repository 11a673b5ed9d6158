// Locks: clients contend for one lock and take turns in FIFO order, each grant with a larger
// fencing token; shared holders together, an exclusive waiter ahead of a later shared one; a
// deadlock between two clients and its single victim; a holder process killed and its lock freed
// when its session's TTL runs out.
import { LockClient, type LockHandle, type LockMode, type LockView } from '@distsync/lock-manager';
import type { ClusterConnection } from '@distsync/transport-ws';
import { firstJsonLine, spawnScript } from '../child.js';
import { pollUntil } from '../cluster.js';
import type { Scenario, ScenarioContext } from '../scenario.js';

/** The killed holder's session TTL: short, so the lock comes free within seconds. */
const HOLDER_TTL_MS = 2000;
const CLIENT_TTL_MS = 10_000;
const ACQUIRE_TIMEOUT_MS = 30_000;
const VIEW_TIMEOUT_MS = 15_000;

interface Person {
  readonly name: string;
  readonly client: LockClient;
  readonly sessionId: string;
}

interface Stage {
  readonly context: ScenarioContext;
  readonly viewer: ClusterConnection;
  readonly people: ReadonlyMap<string, string>;
}

async function person(context: ScenarioContext, name: string): Promise<Person> {
  const connection = await context.connect();
  const client = new LockClient({ connection, ttlMs: CLIENT_TTL_MS });
  context.defer(() => client.close());
  // A try-lock on a private name opens the client's session, so its id can be shown by name.
  const hello = await client.acquire(`${context.prefix}/hello/${name}`, { timeoutMs: 0 });
  await hello.release();
  return { name, client, sessionId: hello.sessionId };
}

function nameOf(stage: Stage, sessionId: string): string {
  return stage.people.get(sessionId) ?? `session ${sessionId.slice(0, 8)}`;
}

async function view(stage: Stage, lock: string): Promise<LockView> {
  return (await stage.viewer.query('lock', { op: 'get', name: lock })) as LockView;
}

function describeView(stage: Stage, lockView: LockView): string {
  const holders = lockView.holders
    .map((holder) => `${nameOf(stage, holder.sessionId)} (${holder.mode}, token ${holder.token})`)
    .join(', ');
  const waiters = lockView.waiters
    .map((waiter) => `${nameOf(stage, waiter.sessionId)} (${waiter.mode})`)
    .join(', ');
  return `holders: ${holders || 'none'}  ·  waiting: ${waiters || 'none'}`;
}

async function show(stage: Stage, lock: string): Promise<LockView> {
  const lockView = await view(stage, lock);
  stage.context.ui.note(
    `${lock.slice(stage.context.prefix.length + 1)}: ${describeView(stage, lockView)}`,
  );
  return lockView;
}

/** Waits until the lock's queue holds exactly `waiting` (by person), in that order. */
async function waitForQueue(
  stage: Stage,
  input: { lock: string; waiting: readonly Person[] },
): Promise<boolean> {
  const wanted = input.waiting.map((waiter) => waiter.sessionId).join(',');
  const found = await pollUntil({
    signal: stage.context.signal,
    timeoutMs: VIEW_TIMEOUT_MS,
    intervalMs: 50,
    check: async () => {
      const lockView = await view(stage, input.lock);
      return lockView.waiters.map((waiter) => waiter.sessionId).join(',') === wanted
        ? true
        : undefined;
    },
  });
  return found === true;
}

/** An acquire whose outcome (handle or error code) is kept, so a failure never goes unhandled. */
function attempt(
  person: Person,
  input: { lock: string; mode?: LockMode },
): Promise<{ handle?: LockHandle; code?: string }> {
  return person.client
    .acquire(input.lock, { mode: input.mode ?? 'exclusive', timeoutMs: ACQUIRE_TIMEOUT_MS })
    .then(
      (handle) => ({ handle }),
      (error: unknown) => ({
        code:
          typeof error === 'object' && error !== null && 'code' in error
            ? String(error.code)
            : String(error),
      }),
    );
}

async function fifo(stage: Stage, [alice, bob, carol]: readonly Person[]): Promise<void> {
  if (alice === undefined || bob === undefined || carol === undefined) return;
  const { context } = stage;
  const lock = `${context.prefix}/printer`;
  context.ui.step('FIFO and fencing: alice, bob and carol all want the printer lock');
  const first = await alice.client.acquire(lock);
  context.ui.step(`alice holds it with fencing token ${first.token}`);
  const bobTurn = attempt(bob, { lock });
  await waitForQueue(stage, { lock, waiting: [bob] });
  const carolTurn = attempt(carol, { lock });
  const queued = await waitForQueue(stage, { lock, waiting: [bob, carol] });
  await show(stage, lock);
  context.check('bob and carol wait in the order they asked', queued);
  const order: string[] = [];
  void bobTurn.then((outcome) => outcome.handle && order.push('bob'));
  void carolTurn.then((outcome) => outcome.handle && order.push('carol'));
  await first.release();
  const second = (await bobTurn).handle;
  context.ui.step(`alice releases: bob gets it with token ${second?.token ?? '-'}`);
  await show(stage, lock);
  await second?.release();
  const third = (await carolTurn).handle;
  context.ui.step(`bob releases: carol gets it with token ${third?.token ?? '-'}`);
  await third?.release();
  context.check(
    `turns in FIFO order (${order.join(' then ')}) with strictly increasing fencing tokens ${first.token} < ${second?.token ?? '-'} < ${third?.token ?? '-'}`,
    order.join(',') === 'bob,carol' &&
      second !== undefined &&
      third !== undefined &&
      first.token < second.token &&
      second.token < third.token,
  );
}

async function sharedExclusive(stage: Stage, people: readonly Person[]): Promise<void> {
  const [alice, bob, carol, dave] = people;
  if (alice === undefined || bob === undefined || carol === undefined || dave === undefined) {
    return;
  }
  const { context } = stage;
  const lock = `${context.prefix}/config`;
  context.ui.step('shared and exclusive: alice and bob read the config, carol wants to write it');
  const readers = [
    await alice.client.acquire(lock, { mode: 'shared' }),
    await bob.client.acquire(lock, { mode: 'shared' }),
  ];
  const carolTurn = attempt(carol, { lock, mode: 'exclusive' });
  await waitForQueue(stage, { lock, waiting: [carol] });
  context.ui.step('dave asks to read too: he queues behind carol, so a writer is never starved');
  const daveTurn = attempt(dave, { lock, mode: 'shared' });
  await waitForQueue(stage, { lock, waiting: [carol, dave] });
  const together = await show(stage, lock);
  context.check(
    'two shared holders at once; the exclusive request and the later shared one wait, in order',
    together.holders.length === 2 &&
      together.holders.every((holder) => holder.mode === 'shared') &&
      together.waiters.map((waiter) => waiter.sessionId).join(',') ===
        [carol.sessionId, dave.sessionId].join(','),
  );
  for (const reader of readers) await reader.release();
  const writer = (await carolTurn).handle;
  context.ui.step(`alice and bob release: carol writes alone (token ${writer?.token ?? '-'})`);
  const alone = await show(stage, lock);
  context.check(
    'carol holds it exclusively while dave still waits',
    alone.holders.length === 1 &&
      alone.holders[0]?.sessionId === carol.sessionId &&
      alone.holders[0].mode === 'exclusive' &&
      alone.waiters.length === 1,
  );
  await writer?.release();
  const reader = (await daveTurn).handle;
  context.ui.step(`carol releases: dave reads (token ${reader?.token ?? '-'})`);
  await reader?.release();
}

async function deadlock(stage: Stage, [alice, bob]: readonly Person[]): Promise<void> {
  if (alice === undefined || bob === undefined) return;
  const { context } = stage;
  const a = `${context.prefix}/account-a`;
  const b = `${context.prefix}/account-b`;
  context.ui.step(
    'deadlock: alice holds account-a, bob holds account-b, each then wants the other',
  );
  const aliceHolds = await alice.client.acquire(a);
  const bobHolds = await bob.client.acquire(b);
  const aliceWants = attempt(alice, { lock: b });
  await waitForQueue(stage, { lock: b, waiting: [alice] });
  context.ui.step('alice waits for account-b; now bob asks for account-a, closing the cycle');
  const bobWants = await attempt(bob, { lock: a });
  context.ui.step(`bob's request: ${bobWants.code ?? 'granted'}`);
  const stillWaiting = await view(stage, b);
  context.check(
    'the cycle is detected at once and exactly one request, the youngest (bob’s), is refused with DEADLOCK; alice still waits',
    bobWants.code === 'DEADLOCK' &&
      stillWaiting.waiters.length === 1 &&
      stillWaiting.waiters[0]?.sessionId === alice.sessionId,
  );
  await bobHolds.release();
  const granted = (await aliceWants).handle;
  context.ui.step(
    `bob, the victim, gives up account-b: alice gets it (token ${granted?.token ?? '-'})`,
  );
  context.check('the survivor of the deadlock gets its lock', granted !== undefined);
  await granted?.release();
  await aliceHolds.release();
}

async function killedHolder(stage: Stage, bob: Person | undefined): Promise<void> {
  if (bob === undefined) return;
  const { context } = stage;
  const { ui } = context;
  const lock = `${context.prefix}/lease`;
  const holder = spawnScript('holder', {
    args: [
      context.cluster.members.map((member) => member.url).join(','),
      lock,
      String(HOLDER_TTL_MS),
    ],
    token: context.token,
  });
  context.defer(() => {
    holder.kill('SIGKILL');
    return undefined;
  });
  const held = (await firstJsonLine(holder, 60_000)) as { token: number; sessionId: string };
  const people = new Map(stage.people).set(held.sessionId, `process ${holder.pid ?? '?'}`);
  const withHolder: Stage = { ...stage, people };
  ui.step(
    `a client process (pid ${holder.pid ?? '?'}) holds the lease lock: token ${held.token}, its session has a ${HOLDER_TTL_MS} ms TTL kept alive by keep-alives`,
  );
  const bobTurn = attempt(bob, { lock });
  await waitForQueue(withHolder, { lock, waiting: [bob] });
  await show(withHolder, lock);
  ui.step(`kill -9 the holder process (no release, no goodbye)`);
  const killedMs = Date.now();
  holder.kill('SIGKILL');
  const outcome = await ui.wait(
    `bob waits until the dead holder's session expires`,
    async (progress) => {
      const timer = setInterval(() => {
        progress(`${Date.now() - killedMs} ms since the kill`);
      }, 100);
      try {
        return await bobTurn;
      } finally {
        clearInterval(timer);
      }
    },
  );
  const elapsedMs = Date.now() - killedMs;
  context.check(
    outcome.handle === undefined
      ? `bob did not get the lock (${outcome.code ?? 'no answer'})`
      : `the session expired and bob got the lock ${elapsedMs} ms after the kill, with token ${outcome.handle.token} > ${held.token}`,
    outcome.handle !== undefined && outcome.handle.token > held.token,
  );
  await outcome.handle?.release();
}

async function run(context: ScenarioContext): Promise<void> {
  const names = ['alice', 'bob', 'carol', 'dave'];
  const people: Person[] = [];
  for (const name of names) people.push(await person(context, name));
  const stage: Stage = {
    context,
    viewer: await context.connect(),
    people: new Map(people.map((entry) => [entry.sessionId, entry.name])),
  };
  context.ui.step(
    `four clients, each with its own connection and session: ${people.map((entry) => entry.name).join(', ')}`,
  );
  await fifo(stage, people);
  await sharedExclusive(stage, people);
  await deadlock(stage, people);
  await killedHolder(stage, people[1]);
}

export const locksScenario: Scenario = {
  name: 'locks',
  title: 'Locks',
  summary:
    'FIFO turns with fencing tokens, shared vs exclusive, a deadlock and its victim, a dead holder',
  service: 'lock',
  run,
};
