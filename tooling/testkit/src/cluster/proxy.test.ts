import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkProxy } from '@distsync/testkit';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function echoTarget(): Promise<{ port: number; received: () => string; sockets: Socket[] }> {
  let received = '';
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    received: () => received,
    sockets,
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function dial(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      resolve();
    }),
  );
  await new Promise<void>((resolve) =>
    socket.once('connect', () => {
      resolve();
    }),
  );
  cleanups.push(() => {
    socket.destroy();
    return Promise.resolve();
  });
  return { socket, received: () => received, closed };
}

describe('LinkProxy', () => {
  it('passes bytes both ways, blackholes one direction only, and resets damaged connections on heal', async () => {
    const target = await echoTarget();
    const proxy = await LinkProxy.start({ from: 'n1', to: 'n2', targetPort: target.port });
    cleanups.push(() => proxy.close());
    const client = await dial(proxy.port);
    client.socket.write('a');
    await until(() => target.received() === 'a', 'the first byte at the target');

    proxy.block('forward');
    client.socket.write('b');
    await until(() => proxy.droppedBytes === 1, 'the blocked byte to be dropped');
    expect(target.received()).toBe('a');
    target.sockets[0]!.write('c');
    await until(() => client.received() === 'c', 'the backward byte at the dialer');

    proxy.heal();
    await client.closed; // the stream lost a byte: it is reset, not resumed
    const again = await dial(proxy.port);
    again.socket.write('d');
    await until(() => target.received() === 'ad', 'bytes on a new connection after the heal');
  });

  it('blackholes both directions when no direction is given, and undamaged connections survive a heal', async () => {
    const target = await echoTarget();
    const proxy = await LinkProxy.start({ from: 'n1', to: 'n2', targetPort: target.port });
    cleanups.push(() => proxy.close());
    const client = await dial(proxy.port);
    await until(() => target.sockets.length === 1, 'the upstream connection');
    proxy.block();
    expect([...proxy.blocked].sort()).toEqual(['backward', 'forward']);
    proxy.heal();
    client.socket.write('x');
    await until(() => target.received() === 'x', 'bytes through a connection that lost nothing');
    expect(proxy.connections).toBe(1);
  });
});
