// Free loopback ports for the clusters the bench starts. The well-known ports of services on
// this machine (etcd, Redis, RabbitMQ, NATS, PostgreSQL, distsync's own defaults) are never used.
import { createServer, type Server } from 'node:net';

export const RESERVED_PORTS: ReadonlySet<number> = new Set([
  2379, 2380, 4222, 5432, 5672, 6379, 7401, 7402, 7403, 8222, 15672,
]);

function listenOnFreePort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('listen on port 0 gave no port'));
        return;
      }
      resolve({ server, port: address.port });
    });
  });
}

/**
 * `count` distinct free ports. All are held open together while they are chosen, so none
 * repeats; they are released before return, which leaves a short window a racing program
 * could take one in, as with any port-0 scheme.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const { server, port } = await listenOnFreePort();
      held.push(server);
      if (!RESERVED_PORTS.has(port)) ports.push(port);
      if (held.length > count * 4) throw new Error('could not find free ports');
    }
  } finally {
    await Promise.all(
      held.map(
        (server) =>
          new Promise<void>((resolve) =>
            server.close(() => {
              resolve();
            }),
          ),
      ),
    );
  }
  return ports;
}
