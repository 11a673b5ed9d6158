// Proves the monitor: suspect and recovered with hysteresis (no flapping), events through
// listeners and async iterators with a bounded buffer, snapshots, and peer bookkeeping.
import { describe, expect, it } from 'vitest';
import { FailureDetectorError, HeartbeatMonitor } from '@distsync/failure-detector';
import type { MonitorEvent } from '@distsync/failure-detector';

/**
 * With the defaults and steady heartbeats every 1000 ms the sd is floored to 100 ms and the
 * mean phi uses is 1000 + 3000 = 4000 ms, so phi reaches 8 at about 4000 + 5.226 * 100 = 4523 ms
 * of silence and 4 (the default recoveryThreshold) at about 4000 + 3.638 * 100 = 4364 ms.
 */
function warmMonitor(
  peers: readonly string[],
  beats = 30,
): { monitor: HeartbeatMonitor; last: number } {
  const monitor = new HeartbeatMonitor();
  for (let index = 0; index < beats; index += 1) {
    for (const peer of peers) monitor.heartbeat(peer, index * 1000);
  }
  return { monitor, last: (beats - 1) * 1000 };
}

function types(events: readonly MonitorEvent[]): string[] {
  return events.map((event) => `${event.type}:${event.peerId}`);
}

describe('suspect and recovered', () => {
  it('suspects a silent peer once, keeps quiet while it stays silent, recovers on a heartbeat', () => {
    const { monitor, last } = warmMonitor(['a', 'b']);
    // Peer b keeps beating every second up to each check; only a falls silent.
    let beatB = last;
    const checkAt = (nowMs: number): readonly MonitorEvent[] => {
      for (; beatB + 1000 <= nowMs; beatB += 1000) monitor.heartbeat('b', beatB + 1000);
      return monitor.check(nowMs);
    };
    expect(checkAt(last + 1000)).toEqual([]);
    const suspected = checkAt(last + 4600);
    expect(types(suspected)).toEqual(['suspect:a']);
    expect(suspected[0]).toMatchObject({
      type: 'suspect',
      peerId: 'a',
      atMs: last + 4600,
      lastHeartbeatMs: last,
    });
    expect(suspected[0]!.phi).toBeGreaterThanOrEqual(8);
    expect(checkAt(last + 10_000)).toEqual([]);
    expect(checkAt(last + 60_000)).toEqual([]);
    monitor.heartbeat('a', last + 61_000);
    const recovered = checkAt(last + 61_100);
    expect(types(recovered)).toEqual(['recovered:a']);
    expect(recovered[0]).toMatchObject({
      suspectedForMs: 61_100 - 4600,
      lastHeartbeatMs: last + 61_000,
    });
  });

  it('does not flap: between the two thresholds a suspect stays suspect, and no duplicate suspect', () => {
    const { monitor, last } = warmMonitor(['a']);
    expect(types(monitor.check(last + 4600))).toEqual(['suspect:a']);
    // A heartbeat arrives, but the next checks see phi between 4 and 8, then above 8 again.
    const beat = last + 5000;
    monitor.heartbeat('a', beat);
    const between = monitor.phi('a', beat + 4450)!;
    expect(between).toBeGreaterThan(4);
    expect(between).toBeLessThan(8);
    expect(monitor.check(beat + 4450)).toEqual([]);
    expect(monitor.peer('a', beat + 4450)?.status).toBe('suspect');
    expect(monitor.check(beat + 4700)).toEqual([]);
    // A fresh heartbeat and a low phi finally recover it.
    monitor.heartbeat('a', beat + 5000);
    expect(types(monitor.check(beat + 5100))).toEqual(['recovered:a']);
  });

  it('needs a heartbeat to recover: a clock jumping back lowers phi but recovers nothing', () => {
    const { monitor, last } = warmMonitor(['a']);
    expect(types(monitor.check(last + 4600))).toEqual(['suspect:a']);
    expect(monitor.phi('a', last + 100)).toBeLessThan(4);
    expect(monitor.check(last + 100)).toEqual([]);
    expect(monitor.peer('a', last + 100)?.status).toBe('suspect');
  });

  it('a peer added with a start time but never heard from is suspected', () => {
    const monitor = new HeartbeatMonitor();
    expect(monitor.addPeer('ghost', 0)).toEqual({ ok: true });
    expect(monitor.addPeer('quiet')).toEqual({ ok: true });
    expect(monitor.check(1000)).toEqual([]);
    const events = monitor.check(10_000);
    expect(types(events)).toEqual(['suspect:ghost']);
    expect(events[0]).toMatchObject({ lastHeartbeatMs: null });
    expect(monitor.snapshot(10_000).map((peer) => [peer.peerId, peer.status])).toEqual([
      ['ghost', 'suspect'],
      ['quiet', 'unknown'],
    ]);
  });

  it('honours a custom recoveryThreshold', () => {
    const strict = new HeartbeatMonitor({ recoveryThreshold: 0.5 });
    const lenient = new HeartbeatMonitor();
    for (const monitor of [strict, lenient]) {
      for (let index = 0; index < 30; index += 1) monitor.heartbeat('a', index * 1000);
      expect(types(monitor.check(35_000))).toEqual(['suspect:a']);
      monitor.heartbeat('a', 36_000);
    }
    // 4100 ms after that heartbeat y = (4100 - 4000) / 100 = 1, so phi = 0.7995: below the
    // default 4 but not below 0.5.
    expect(types(lenient.check(40_100))).toEqual(['recovered:a']);
    expect(strict.check(40_100)).toEqual([]);
    strict.heartbeat('a', 40_200);
    expect(types(strict.check(40_300))).toEqual(['recovered:a']);
  });

  it('ignores a check at a time that is not finite', () => {
    const { monitor, last } = warmMonitor(['a']);
    expect(monitor.check(Number.NaN)).toEqual([]);
    expect(monitor.check(Infinity)).toEqual([]);
    expect(monitor.peer('a', last)?.status).toBe('alive');
  });
});

describe('listeners', () => {
  it('on() delivers only its event type and returns a working unsubscribe', () => {
    const { monitor, last } = warmMonitor(['a']);
    const suspects: string[] = [];
    const recovered: string[] = [];
    const offSuspect = monitor.on('suspect', (event) => suspects.push(event.peerId));
    monitor.on('recovered', (event) => recovered.push(`${event.peerId}:${event.suspectedForMs}`));
    monitor.check(last + 4600);
    monitor.heartbeat('a', last + 5000);
    monitor.check(last + 5100);
    offSuspect();
    offSuspect();
    monitor.check(last + 20_000);
    expect(suspects).toEqual(['a']);
    expect(recovered).toEqual(['a:500']);
  });

  it('a throwing listener does not stop others; check throws LISTENER_FAILED after updating', () => {
    const { monitor, last } = warmMonitor(['a', 'b']);
    const seen: string[] = [];
    const boom = new Error('boom');
    monitor.on('suspect', () => {
      throw boom;
    });
    monitor.on('suspect', (event) => seen.push(event.peerId));
    let caught: unknown;
    try {
      monitor.check(last + 4600);
    } catch (error: unknown) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FailureDetectorError);
    expect((caught as FailureDetectorError).code).toBe('LISTENER_FAILED');
    expect((caught as FailureDetectorError).cause).toBeInstanceOf(AggregateError);
    expect(seen).toEqual(['a', 'b']);
    expect(monitor.snapshot(last + 4600).every((peer) => peer.status === 'suspect')).toBe(true);
  });

  it('rejects an unknown event type with INVALID_ARGUMENT', () => {
    const monitor = new HeartbeatMonitor();
    expect(() => monitor.on('alive' as never, () => undefined)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('async iteration', () => {
  it('delivers events to a for-await loop, which ends when the signal aborts', async () => {
    const { monitor, last } = warmMonitor(['a', 'b']);
    const controller = new AbortController();
    const received: string[] = [];
    const loop = (async () => {
      for await (const event of monitor.events(controller.signal)) {
        received.push(`${event.type}:${event.peerId}`);
        if (received.length === 3) controller.abort();
      }
    })();
    monitor.check(last + 4600);
    monitor.heartbeat('a', last + 5000);
    monitor.check(last + 5100);
    await loop;
    expect(received).toEqual(['suspect:a', 'suspect:b', 'recovered:a']);
  });

  it('the monitor itself is async iterable, and breaking the loop unsubscribes', async () => {
    const { monitor, last } = warmMonitor(['a']);
    const iterator = monitor[Symbol.asyncIterator]();
    const next = iterator.next();
    monitor.check(last + 4600);
    expect((await next).value).toMatchObject({ type: 'suspect', peerId: 'a' });
    await iterator.return();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('bounds the buffer of a slow reader, dropping the oldest and counting drops', async () => {
    const monitor = new HeartbeatMonitor({ maxBufferedEvents: 2 });
    const stream = monitor.events();
    for (const peer of ['p1', 'p2', 'p3', 'p4', 'p5']) monitor.addPeer(peer, 0);
    monitor.check(100_000);
    expect(stream.bufferedEvents).toBe(2);
    expect(stream.droppedEvents).toBe(3);
    expect(monitor.droppedEvents).toBe(3);
    expect((await stream.next()).value?.peerId).toBe('p4');
    expect((await stream.next()).value?.peerId).toBe('p5');
  });

  it('close() lets each iterator drain its buffer, then ends it', async () => {
    const { monitor, last } = warmMonitor(['a']);
    const stream = monitor.events();
    monitor.check(last + 4600);
    monitor.close();
    const received: MonitorEvent[] = [];
    for await (const event of stream) received.push(event);
    expect(types(received)).toEqual(['suspect:a']);
    expect(await monitor.events().next()).toEqual({ done: true, value: undefined });
  });

  it('an iterator made with an already aborted signal is done at once', async () => {
    const monitor = new HeartbeatMonitor();
    expect(await monitor.events(AbortSignal.abort()).next()).toEqual({
      done: true,
      value: undefined,
    });
  });
});

describe('peers', () => {
  it('adds, lists, finds and removes peers', () => {
    const monitor = new HeartbeatMonitor();
    expect(monitor.addPeer('a')).toEqual({ ok: true });
    expect(monitor.addPeer('a')).toEqual({ ok: false, code: 'PEER_EXISTS' });
    monitor.heartbeat('b', 0);
    expect(monitor.peers()).toEqual(['a', 'b']);
    expect(monitor.has('b')).toBe(true);
    expect(monitor.size).toBe(2);
    expect(monitor.removePeer('b')).toBe(true);
    expect(monitor.removePeer('b')).toBe(false);
    expect(monitor.has('b')).toBe(false);
    expect(monitor.phi('b', 0)).toBeUndefined();
    expect(monitor.peer('b', 0)).toBeUndefined();
  });

  it('refuses peers beyond maxPeers, by value', () => {
    const monitor = new HeartbeatMonitor({ maxPeers: 1 });
    expect(monitor.heartbeat('a', 0)).toBe(true);
    expect(monitor.addPeer('b')).toEqual({ ok: false, code: 'TOO_MANY_PEERS' });
    expect(monitor.heartbeat('b', 0)).toBe(false);
    expect(monitor.peers()).toEqual(['a']);
  });

  it('with autoAddPeers off, ignores heartbeats from untracked peers', () => {
    const monitor = new HeartbeatMonitor({ autoAddPeers: false });
    expect(monitor.heartbeat('stranger', 0)).toBe(false);
    expect(monitor.has('stranger')).toBe(false);
  });

  it('a removed suspect emits nothing more', () => {
    const { monitor, last } = warmMonitor(['a']);
    monitor.check(last + 4600);
    monitor.removePeer('a');
    monitor.heartbeat('a', last + 5000);
    expect(monitor.check(last + 5100)).toEqual([]);
    expect(monitor.peer('a', last + 5100)?.status).toBe('alive');
  });

  it('snapshots every peer with its status, phi and last heartbeat', () => {
    const { monitor, last } = warmMonitor(['a']);
    monitor.addPeer('new');
    monitor.check(last + 5000);
    expect(monitor.snapshot(last + 5000)).toEqual([
      {
        peerId: 'a',
        status: 'suspect',
        phi: monitor.phi('a', last + 5000),
        lastHeartbeatMs: last,
        suspectedSinceMs: last + 5000,
      },
      { peerId: 'new', status: 'unknown', phi: 0, lastHeartbeatMs: null },
    ]);
    monitor.heartbeat('a', last + 6000);
    monitor.check(last + 6000);
    expect(monitor.peer('a', last + 6000)).toMatchObject({
      status: 'alive',
      lastHeartbeatMs: last + 6000,
    });
  });

  it('rejects peer ids that are not non-empty strings with INVALID_ARGUMENT', () => {
    const monitor = new HeartbeatMonitor();
    for (const bad of ['', 'x'.repeat(1025), 42, undefined]) {
      expect(() => monitor.heartbeat(bad as never, 0)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });

  it('ignores heartbeats at times that are not finite', () => {
    const monitor = new HeartbeatMonitor();
    expect(monitor.heartbeat('a', Number.NaN)).toBe(false);
    expect(monitor.has('a')).toBe(false);
  });
});
