// The HTTP API and the /client WebSocket of one node on loopback: the documented answers, and
// clear errors with codes for bad input (wrong types, unknown operations, oversized bodies and
// frames, garbage frames) while the node stays up.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import pino from 'pino';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { loadConfig, startNode, type RunningNode } from '@distsync/node';
import { http, removeDir, tempDir, waitFor } from './test-support/processes.js';

let node: RunningNode;
let base: string;
let dir: string;
let client: ClusterConnection;

beforeAll(async () => {
  dir = tempDir('api');
  const config = loadConfig({
    flags: { id: 'solo', port: 0, dataDir: dir, maxBodyBytes: 4096, tickMs: 20 },
  });
  node = await startNode(config, { logger: pino({ level: 'silent' }) });
  base = `http://127.0.0.1:${node.port}`;
  await waitFor('ready', async () =>
    (await http(`${base}/ready`)).status === 200 ? true : undefined,
  );
  client = await connect(`ws://127.0.0.1:${node.port}`, { requestTimeoutMs: 3000 });
});

afterAll(async () => {
  await client.close();
  await node.drain();
  removeDir(dir);
});

describe('HTTP API', () => {
  it('answers health, readiness, status and metrics', async () => {
    expect(await http(`${base}/health`)).toEqual({
      status: 200,
      body: { status: 'ok', id: 'solo' },
    });
    expect((await http(`${base}/ready`)).body).toEqual({ ready: true });
    const status = (await http(`${base}/status`)).body as Record<string, unknown>;
    expect(status).toMatchObject({ id: 'solo', role: 'leader', leader: 'solo', ready: true });
    expect(status.services).toEqual(expect.arrayContaining(['kv', 'sessions', 'lock']));
    const metrics = (await http(`${base}/metrics`)).body as string;
    for (const name of [
      'distsync_raft_term',
      'distsync_raft_role{role="leader"} 1',
      'distsync_raft_commit_index',
      'distsync_storage_sync_duration_seconds_bucket',
      'distsync_refused_total',
      'process_resident_memory_bytes',
    ]) {
      expect(metrics).toContain(name);
    }
  });

  it('puts, reads, compares-and-sets and deletes a key', async () => {
    const put = await http(`${base}/v1/kv/k1`, { method: 'PUT', body: { value: { n: 1 } } });
    expect(put.status).toBe(200);
    const { version } = put.body as { version: number };
    expect(await http(`${base}/v1/kv/k1`)).toEqual({
      status: 200,
      body: { value: { n: 1 }, version },
    });
    const stale = await http(`${base}/v1/kv/k1/cas`, {
      method: 'POST',
      body: { expectedVersion: version - 1, value: 2 },
    });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: { code: 'CONFLICT' } });
    const cas = await http(`${base}/v1/kv/k1/cas`, {
      method: 'POST',
      body: { expectedVersion: version, value: 2 },
    });
    expect(cas.status).toBe(200);
    expect(await http(`${base}/v1/kv/k1`, { method: 'DELETE' })).toEqual({
      status: 200,
      body: { deleted: true },
    });
    const missing = await http(`${base}/v1/kv/k1`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('creates, keeps alive and expires a session through replicated timers', async () => {
    const created = await http(`${base}/v1/sessions`, { method: 'POST', body: { ttlMs: 300 } });
    expect(created.status).toBe(200);
    const { sessionId } = created.body as { sessionId: string };
    expect(await http(`${base}/v1/sessions/${sessionId}/keepalive`, { method: 'POST' })).toEqual({
      status: 200,
      body: { expiresInMs: 300 },
    });
    // Reads do not renew it: poll with a query until the leader's expire command has applied.
    await waitFor('the session to expire', () =>
      client.query('sessions', { op: 'get', sessionId }).then(
        () => undefined,
        (error: unknown) => error,
      ),
    );
    await expect(client.query('sessions', { op: 'get', sessionId })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const late = await http(`${base}/v1/sessions/${sessionId}/keepalive`, { method: 'POST' });
    expect(late.status).toBe(404);
    const other = (await http(`${base}/v1/sessions`, { method: 'POST', body: { ttlMs: 60_000 } }))
      .body as { sessionId: string };
    expect(await http(`${base}/v1/sessions/${other.sessionId}`, { method: 'DELETE' })).toEqual({
      status: 200,
      body: { deleted: true },
    });
  });

  it('answers bad input with codes and statuses, and stays up', async () => {
    const cases: [string, Parameters<typeof http>[1], number, string][] = [
      ['/v1/kv/a', { method: 'PUT', raw: '{not json' }, 400, 'BAD_REQUEST'],
      ['/v1/kv/a', { method: 'PUT', body: { val: 1 } }, 400, 'BAD_REQUEST'],
      [
        '/v1/kv/a/cas',
        { method: 'POST', body: { expectedVersion: 'one', value: 1 } },
        400,
        'BAD_REQUEST',
      ],
      ['/v1/sessions', { method: 'POST', body: { ttlMs: -5 } }, 400, 'BAD_REQUEST'],
      ['/v1/kv/a', { method: 'PUT', body: { value: 'x'.repeat(5000) } }, 413, 'TOO_LARGE'],
      ['/v1/nothing', {}, 404, 'NOT_FOUND'],
      ['/v1/kv/a', { method: 'PATCH', body: { value: 1 } }, 404, 'NOT_FOUND'],
    ];
    for (const [path, init, status, code] of cases) {
      const answer = await http(`${base}${path}`, init);
      expect({ path, status: answer.status, body: answer.body }).toMatchObject({
        path,
        status,
        body: { error: { code, message: expect.any(String) as string } },
      });
    }
    const wrongType = await http(`${base}/v1/kv/a/cas`, {
      method: 'POST',
      body: { expectedVersion: 'one', value: 1 },
    });
    expect((wrongType.body as { error: { message: string } }).error.message).toContain(
      'body.expectedVersion',
    );
    expect((await http(`${base}/health`)).status).toBe(200);
  });

  it('reads a chunked body without Content-Length, and refuses one that grows past maxBodyBytes', async () => {
    // Chunks written one by one: the node cannot know the size up front and counts as it reads.
    const send = (chunks: readonly string[]): Promise<{ status: number; body: unknown }> =>
      new Promise((resolve, reject) => {
        const request = httpRequest(
          `${base}/v1/kv/chunked`,
          { method: 'PUT', headers: { 'content-type': 'application/json' } },
          (response) => {
            let text = '';
            response.setEncoding('utf8');
            response.on('data', (part: string) => (text += part));
            response.on('end', () => {
              resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
            });
          },
        );
        request.on('error', reject);
        for (const chunk of chunks) request.write(chunk);
        request.end();
      });
    const small = await send(['{"value":', '"in three ', 'chunks"}']);
    expect(small).toMatchObject({ status: 200 });
    expect((await http(`${base}/v1/kv/chunked`)).body).toMatchObject({ value: 'in three chunks' });
    const large = await send([
      '{"value":"',
      ...Array.from({ length: 5 }, () => 'x'.repeat(1000)),
      '"}',
    ]);
    expect(large).toMatchObject({ status: 413, body: { error: { code: 'TOO_LARGE' } } });
    // Nothing of the refused body was written, and the node still answers.
    expect((await http(`${base}/v1/kv/chunked`)).body).toMatchObject({ value: 'in three chunks' });
  });

  it('serves an OpenAPI document generated from the route schemas', async () => {
    const doc = (await http(`${base}/v1/openapi.json`)).body as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    // Every registered service adds its routes; these are kv's, sessions' and lock's.
    expect(Object.keys(doc.paths).sort()).toEqual(
      expect.arrayContaining([
        '/v1/kv/{key}',
        '/v1/kv/{key}/cas',
        '/v1/locks',
        '/v1/locks/{name}',
        '/v1/locks/{name}/acquire',
        '/v1/locks/{name}/release',
        '/v1/sessions',
        '/v1/sessions/{id}',
        '/v1/sessions/{id}/keepalive',
      ]),
    );
    expect(Object.keys(doc.paths['/v1/kv/{key}'] ?? {}).sort()).toEqual(['delete', 'get', 'put']);
    expect(doc.components.schemas.putKvKeyBody).toMatchObject({
      type: 'object',
      required: ['value'],
    });
  });
});

describe('/client WebSocket', () => {
  it('maps commands and queries to the kv and sessions services', async () => {
    const put = (await client.command('kv', { op: 'put', key: 'ws', value: [1, 2] })) as {
      version: number;
    };
    expect(await client.query('kv', { op: 'get', key: 'ws' })).toEqual({
      value: [1, 2],
      version: put.version,
    });
    expect(await client.command('sessions', { op: 'create', ttlMs: 10_000 })).toMatchObject({
      sessionId: expect.stringMatching(/^s\d+$/) as string,
    });
  });

  it('refuses unknown services, unknown operations and wrong types with codes', async () => {
    const attempts = [
      client.command('nope', { op: 'put' }),
      client.command('kv', { op: 'explode', key: 'a' }),
      client.command('kv', { op: 'put', key: 42, value: 1 }),
      client.command('sessions', { op: 'expire', nowMs: 1 }),
      client.query('kv', { op: 'put', key: 'a', value: 1 }),
    ];
    for (const attempt of attempts) {
      await expect(attempt).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    }
    await expect(client.query('kv', { op: 'get', key: 'never-written' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('closes on garbage and oversized frames and keeps serving others', async () => {
    const url = `ws://127.0.0.1:${node.port}/client`;
    const closeCode = (payload: Buffer): Promise<number> =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(url);
        socket.once('open', () => {
          socket.send(payload);
        });
        socket.once('close', (code) => {
          resolve(code);
        });
        socket.once('error', reject);
      });
    expect(await closeCode(Buffer.from([0xc1, 0xff, 0x00]))).toBe(4400);
    expect([4413, 1009]).toContain(await closeCode(Buffer.alloc(200_000, 1)));
    // A client that knows the limit refuses an oversized request before sending it.
    const careful = await connect(`ws://127.0.0.1:${node.port}`, { maxFrameBytes: 65_536 });
    await expect(
      careful.command('kv', { op: 'put', key: 'big', value: 'x'.repeat(200_000) }),
    ).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' });
    await careful.close();
    expect(await client.command('kv', { op: 'put', key: 'after', value: true })).toMatchObject({
      version: expect.any(Number) as number,
    });
    expect((await http(`${base}/health`)).status).toBe(200);
  });
});
