// Round trips over loopback through the client request path (connect -> command -> handler ->
// response), next to a raw node:net length-prefixed ping-pong measured in the same run, at 1 and
// 64 requests in flight. Prints a table with ratios and writes results/bench-<time>.json.
// Figures, not tests: nothing here asserts speed. BENCH_SECONDS sets each measured phase (default 3).
import { mkdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { connect, createTransportServer, silentLogger } from '@distsync/transport-ws';
import { WebSocket, WebSocketServer } from 'ws';

const SECONDS = Number(process.env.BENCH_SECONDS ?? '3');
const WARMUP_SECONDS = 0.5;
const PAYLOAD = 'x'.repeat(32);
const IN_FLIGHT = [1, 64] as const;

interface Result {
  readonly name: string;
  readonly inFlight: number;
  readonly roundTrips: number;
  readonly roundTripsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

type RoundTrip = () => Promise<unknown>;

/** Runs `inFlight` closed-loop workers for `seconds`, recording each round trip's latency. */
async function measure(
  roundTrip: RoundTrip,
  inFlight: number,
  seconds: number,
): Promise<{ count: number; latencies: Float64Array; elapsedS: number }> {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const begin = performance.now();
      await roundTrip();
      latencies.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedS = (performance.now() - start) / 1000;
  return { count: latencies.length, latencies: Float64Array.from(latencies).sort(), elapsedS };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function run(name: string, roundTrip: RoundTrip, inFlight: number): Promise<Result> {
  await measure(roundTrip, inFlight, WARMUP_SECONDS);
  const { count, latencies, elapsedS } = await measure(roundTrip, inFlight, SECONDS);
  return {
    name,
    inFlight,
    roundTrips: count,
    roundTripsPerSecond: Math.round(count / elapsedS),
    p50Us: Math.round(percentile(latencies, 50) * 1000),
    p99Us: Math.round(percentile(latencies, 99) * 1000),
  };
}

/** The baseline: a 4-byte length prefix and the payload, echoed by a plain TCP server. */
async function rawNet(): Promise<{ roundTrip: RoundTrip; close: () => Promise<void> }> {
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const socket: Socket = createConnection(address.port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const waiting: (() => void)[] = [];
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const length = buffered.readUInt32BE(0);
      if (buffered.length < 4 + length) break;
      buffered = buffered.subarray(4 + length);
      waiting.shift()?.();
    }
  });
  const body = Buffer.from(PAYLOAD);
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        socket.write(frame);
      }),
    close: async () => {
      socket.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

/** A second reference: bare ws echoing binary messages, no protocol, no batching. */
async function rawWs(): Promise<{ roundTrip: RoundTrip; close: () => Promise<void> }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  server.on('connection', (socket) => {
    socket.on('message', (data) => {
      socket.send(data as Buffer);
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const socket = new WebSocket(`ws://127.0.0.1:${address.port}`, { perMessageDeflate: false });
  await new Promise<void>((resolve) => socket.once('open', resolve));
  const waiting: (() => void)[] = [];
  socket.on('message', () => waiting.shift()?.());
  const body = Buffer.from(PAYLOAD);
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        socket.send(body);
      }),
    close: async () => {
      socket.terminate();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

async function transportWs(): Promise<{ roundTrip: RoundTrip; close: () => Promise<void> }> {
  const server = await createTransportServer({
    logger: silentLogger,
    clients: { handler: (request) => ({ ok: true, value: request.payload }) },
  });
  const connection = await connect(server.url, { logger: silentLogger });
  return {
    roundTrip: () => connection.command('bench', PAYLOAD),
    close: async () => {
      await connection.close();
      await server.close();
    },
  };
}

async function main(): Promise<void> {
  const results: Result[] = [];
  for (const inFlight of IN_FLIGHT) {
    const raw = await rawNet();
    results.push(await run('raw node:net', raw.roundTrip, inFlight));
    await raw.close();
    const bare = await rawWs();
    results.push(await run('raw ws (reference)', bare.roundTrip, inFlight));
    await bare.close();
    const ws = await transportWs();
    results.push(await run('transport-ws client', ws.roundTrip, inFlight));
    await ws.close();
  }
  const rows = IN_FLIGHT.map((inFlight) => {
    const raw = results.find((r) => r.name === 'raw node:net' && r.inFlight === inFlight);
    const ws = results.find((r) => r.name === 'transport-ws client' && r.inFlight === inFlight);
    if (raw === undefined || ws === undefined) throw new Error('missing result');
    return {
      inFlight,
      raw,
      ws,
      rateRatio: ws.roundTripsPerSecond / raw.roundTripsPerSecond,
      p50Ratio: ws.p50Us / raw.p50Us,
    };
  });
  console.log(
    `transport-ws bench: ${SECONDS} s per phase, ${PAYLOAD.length}-byte payload, ${cpus().length} CPUs, Node ${process.version}`,
  );
  console.log('in flight | path                | round trips/s |  p50 µs |  p99 µs');
  for (const result of results) {
    console.log(
      `${String(result.inFlight).padStart(9)} | ${result.name.padEnd(19)} | ${String(result.roundTripsPerSecond).padStart(13)} | ${String(result.p50Us).padStart(7)} | ${String(result.p99Us).padStart(7)}`,
    );
  }
  for (const row of rows) {
    console.log(
      `in flight ${row.inFlight}: rate ws/raw = ${row.rateRatio.toFixed(2)} (aim >= 0.50), p50 ws/raw = ${row.p50Ratio.toFixed(2)} (aim <= 1.50)`,
    );
  }
  const directory = new URL('../results/', import.meta.url);
  mkdirSync(directory, { recursive: true });
  const target = new URL(`bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, directory);
  writeFileSync(
    target,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, seconds: SECONDS, payloadBytes: PAYLOAD.length, results, ratios: rows.map((row) => ({ inFlight: row.inFlight, rateRatio: row.rateRatio, p50Ratio: row.p50Ratio })) }, null, 2)}\n`,
  );
  console.log(`wrote ${target.pathname}`);
}

await main();
