// The queue machine replicated by three RaftNodes over the in-memory network while leaders are
// isolated and the cluster is partitioned, with a producer and a consumer retrying through any
// node. The total-queue check: every acknowledged send is delivered; nothing is delivered that
// was never sent; a message is delivered again only after its lease expired or its ack was not
// confirmed (never twice with the same delivery number, never after a confirmed ack); and
// messages of one key are first delivered in the order they were sent.
import { afterEach, describe, expect, it } from 'vitest';
import type { RaftNode } from '@distsync/raft';
import { createMemoryCluster, createPrng, type MemoryCluster } from '@distsync/raft/testing';
import { createQueueStateMachine, type DeliveredMessage } from '@distsync/queue';

const MESSAGES = 240;
const KEYS = 6;
const REQUEST_TIMEOUT_MS = 800;

let cluster: MemoryCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

interface Delivery {
  readonly id: string;
  readonly deliveryCount: number;
  ackConfirmed: boolean;
}

/** A client session: retries one command with the same seq (exactly once) until it answers. */
function clientOf(input: { nodes: readonly RaftNode[]; clientId: string; random: () => number }) {
  let seq = 0;
  return async (
    command: unknown,
    deadlineMs: number,
  ): Promise<{ ok: boolean; value?: unknown; code?: string }> => {
    seq += 1;
    let last: { ok: boolean; value?: unknown; code?: string } = { ok: false, code: 'NEVER_SENT' };
    while (Date.now() < deadlineMs) {
      const node = input.nodes[Math.floor(input.random() * input.nodes.length)]!;
      const result = await node.command('queue', command, {
        clientId: input.clientId,
        seq,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      if (result.ok) {
        const value = result.value as { ok: boolean; value?: unknown; code?: string };
        return value;
      }
      last = { ok: false, code: result.code };
    }
    return last;
  };
}

describe('queue under failover and partitions (3 RaftNodes, memory network)', () => {
  it('loses no acknowledged send, invents nothing, duplicates only after expiry or an unconfirmed ack, keeps per-key order', async () => {
    const random = createPrng(20261202);
    const started = Date.now();
    const endBy = started + 25_000;
    cluster = createMemoryCluster({
      stateMachines: () => [
        createQueueStateMachine({
          defaults: { visibilityTimeoutMs: 600, maxDeliveries: 0, partitions: 4 },
        }),
      ],
      tickIntervalMs: 10,
    });
    await cluster.waitForLeader();
    const nodes = cluster.nodes;
    const producer = clientOf({ nodes, clientId: 'producer', random: () => random.next() });
    const consumer = clientOf({ nodes, clientId: 'consumer', random: () => random.next() });
    const acknowledged = new Set<string>();
    const unconfirmedSends = new Set<string>();
    const deliveries: Delivery[] = [];
    let producing = true;

    const produce = async (): Promise<void> => {
      for (let index = 0; index < MESSAGES && Date.now() < endBy; index += 1) {
        const id = `m${index}`;
        const message = { id, key: `k${index % KEYS}`, body: index };
        const result = await producer({ op: 'send', queue: 'q', message }, Date.now() + 5000);
        if (result.ok) acknowledged.add(id);
        else unconfirmedSends.add(id);
      }
      producing = false;
    };

    const consume = async (): Promise<void> => {
      while (Date.now() < endBy) {
        const pending = [...acknowledged].filter(
          (id) => !deliveries.some((d) => d.id === id && d.ackConfirmed),
        );
        if (!producing && pending.length === 0) return;
        const result = await consumer({ op: 'receive', queue: 'q', max: 8 }, Date.now() + 3000);
        if (!result.ok) continue;
        const got = (result.value as { messages: DeliveredMessage[] }).messages;
        if (got.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        for (const message of got) {
          const delivery: Delivery = {
            id: message.id,
            deliveryCount: message.deliveryCount,
            ackConfirmed: false,
          };
          deliveries.push(delivery);
          // Some acks are left to expire, so redelivery after a lease runs out is exercised too.
          if (random.chance(0.05)) continue;
          const ack = await consumer({ op: 'ack', receipt: message.receipt }, Date.now() + 2000);
          delivery.ackConfirmed = ack.ok;
        }
      }
    };

    const faults = async (): Promise<void> => {
      let round = 0;
      while ((producing || round < 8) && Date.now() < endBy) {
        await new Promise((resolve) => setTimeout(resolve, 400));
        const leader = await cluster!.waitForLeader({ timeoutMs: 5000 });
        round += 1;
        if (round % 2 === 1) cluster!.network.isolate(leader.id);
        else {
          const others = nodes.map((node) => node.id).filter((id) => id !== leader.id);
          cluster!.network.partition([leader.id, others[0]!], [others[1]!]);
        }
        await new Promise((resolve) => setTimeout(resolve, 300 + random.int(0, 300)));
        cluster!.network.heal();
      }
    };

    await Promise.all([produce(), consume(), faults()]);
    cluster.network.heal();

    const sent = new Set([...acknowledged, ...unconfirmedSends]);
    const deliveredIds = new Set(deliveries.map((delivery) => delivery.id));
    // Every acknowledged send is delivered.
    expect([...acknowledged].filter((id) => !deliveredIds.has(id))).toEqual([]);
    // Nothing appears that was never sent.
    expect([...deliveredIds].filter((id) => !sent.has(id))).toEqual([]);
    // Duplicates: never the same delivery number twice (that would be a second copy), and
    // never after a confirmed ack.
    const byId = new Map<string, Delivery[]>();
    for (const delivery of deliveries)
      byId.set(delivery.id, [...(byId.get(delivery.id) ?? []), delivery]);
    for (const [id, list] of byId) {
      const counts = list.map((delivery) => delivery.deliveryCount);
      expect(new Set(counts).size, `${id} delivered as ${counts.join(',')}`).toBe(counts.length);
      const confirmedAt = list.findIndex((delivery) => delivery.ackConfirmed);
      if (confirmedAt !== -1)
        expect(list.length - 1, `${id} delivered after its ack was confirmed`).toBe(confirmedAt);
    }
    // Per-key order among acknowledged messages: first deliveries in send order.
    for (let key = 0; key < KEYS; key += 1) {
      const order = deliveries
        .filter((delivery) => delivery.deliveryCount === 1 && acknowledged.has(delivery.id))
        .map((delivery) => Number(delivery.id.slice(1)))
        .filter((index) => index % KEYS === key);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(acknowledged.size).toBeGreaterThan(MESSAGES / 2);
    // The faults really moved the leadership around.
    const term = Math.max(...nodes.map((node) => node.status().term));
    expect(term).toBeGreaterThan(3);
    console.log(
      `failover: ${acknowledged.size} acknowledged sends, ${unconfirmedSends.size} unconfirmed, ${deliveries.length} deliveries, ${deliveries.length - deliveredIds.size} redeliveries, term ${term}, ${Date.now() - started} ms`,
    );
  }, 40_000);
});
