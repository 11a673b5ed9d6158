import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  connect,
  silentLogger,
  type ClientRequest,
  type HandlerResponse,
} from '@distsync/transport-ws';
import { RawSocket, startServer, useCleanups } from './test-support.js';

const defer = useCleanups();

const FRAMES = 10_000;

/** Frames a broken or hostile client might send: bytes, odd MessagePack, near-valid requests. */
const fuzzFrame: fc.Arbitrary<{ bytes: Uint8Array; binary: boolean }> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes, binary: true })),
  fc.string({ maxLength: 100 }).map((text) => ({ bytes: Buffer.from(text), binary: false })),
  fc.anything({ maxDepth: 3 }).map((value) => ({ bytes: pack(value), binary: true })),
  fc
    .record(
      {
        type: fc.constantFrom(
          'request',
          'request',
          'request',
          'response',
          'push',
          'hello',
          'ping',
          'x',
        ),
        id: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string(), fc.constant(null)),
        kind: fc.oneof(
          fc.constantFrom('command', 'query', 'subscribe', 'unsubscribe'),
          fc.string(),
        ),
        service: fc.oneof(fc.string({ maxLength: 200 }), fc.nat()),
        payload: fc.anything({ maxDepth: 2 }),
        clientId: fc.constantFrom('fuzzer', '', 'other'),
        seq: fc.oneof(fc.nat(), fc.integer(), fc.double()),
        timeoutMs: fc.oneof(fc.nat(), fc.integer(), fc.double()),
      },
      { requiredKeys: [] },
    )
    .chain((item) => fc.constantFrom(item, [item], [item, item]))
    .map((value) => ({ bytes: pack(value), binary: true })),
);

describe('fuzzing', () => {
  it(`survives ${FRAMES} fuzzed frames while serving a concurrent correct client`, async () => {
    let applied = 0;
    const handler = (request: ClientRequest): HandlerResponse => {
      if (request.kind === 'command') applied += 1;
      return { ok: true, value: request.payload };
    };
    const node = await startServer({
      clients: { handler },
      maxFrameBytes: 64 * 1024,
      // Established sessions here are never closed for bad frames, so all frames reach the
      // parser; the close policy itself is tested in limits.test.ts.
      maxBadFrames: 1_000_000,
    });
    defer(() => node.close());
    const good = await connect(node.url, { logger: silentLogger });
    defer(() => good.close());
    const frames = fc.sample(fuzzFrame, { numRuns: FRAMES, seed: 20_261_125 });

    let stop = false;
    let goodRoundTrips = 0;
    const goodClient = (async () => {
      while (!stop) {
        const value = await good.command('kv', goodRoundTrips);
        expect(value).toBe(goodRoundTrips);
        goodRoundTrips += 1;
      }
    })();

    const socket = await RawSocket.client(node.url, { clientId: 'fuzzer' });
    let sent = 0;
    let preHandshake = 0;
    for (const [index, frame] of frames.entries()) {
      if (index % 20 === 0) {
        // Every 20th frame opens a fresh connection and is its first frame, before any hello.
        const fresh = await RawSocket.open(`${node.url}/client`);
        fresh.sendBytes(frame.bytes, frame.binary);
        // A fuzzed frame is almost never a valid hello; if it is, the session simply opens.
        await Promise.race([fresh.closed, fresh.next(() => true).catch(() => undefined)]);
        await fresh.close();
        preHandshake += 1;
      } else {
        expect(socket.isOpen).toBe(true);
        socket.sendBytes(frame.bytes, frame.binary);
      }
      sent += 1;
      if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await socket.close();
    stop = true;
    await goodClient;

    expect(sent).toBe(FRAMES);
    expect(preHandshake).toBe(FRAMES / 20);
    expect(goodRoundTrips).toBeGreaterThan(0);
    expect(good.status.type).toBe('connected');
    // The server still serves new clients after the storm.
    const fresh = await connect(node.url, { logger: silentLogger });
    defer(() => fresh.close());
    await expect(fresh.query('kv', 'still here')).resolves.toBe('still here');
    // Every fuzzed frame reached the server (plus hellos and the good client's frames).
    expect(node.metrics().framesIn).toBeGreaterThan(FRAMES);
    const refusals = node.metrics().refusals;
    expect(refusals.BAD_FRAME).toBeGreaterThan(100);
    expect(refusals.BAD_REQUEST).toBeGreaterThan(100);
    expect(applied).toBeGreaterThanOrEqual(goodRoundTrips);
  }, 60_000);
});
