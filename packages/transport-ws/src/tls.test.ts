import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  connect,
  createPeerTransport,
  silentLogger,
  type PeerTransport,
} from '@distsync/transport-ws';
import { z } from 'zod';
import { SECRET, startServer, waitForUpdate, useCleanups } from './test-support.js';

let dir = '';
const file = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makeCertificates(): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=distsync test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const name of ['server', 'client']) {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${name}.pem`,
      ...(name === 'server' ? ['-extfile', 'server.ext'] : []),
    );
  }
  // A second CA whose certificates the server must not trust.
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=rogue CA',
    '-keyout',
    'rogue.key',
    '-out',
    'rogue.pem',
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'distsync-tls-'));
  makeCertificates();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const defer = useCleanups();

const MessageSchema = z.object({ from: z.string(), to: z.string(), n: z.number() });
type Message = z.infer<typeof MessageSchema>;

describe('TLS', () => {
  it('serves wss clients that trust the CA, without the plain-text warning', async () => {
    const warn = vi.fn();
    const node = await startServer({
      tls: { certFile: file('server.pem'), keyFile: file('server.key') },
      clients: { handler: (request) => ({ ok: true, value: request.payload }) },
      logger: { ...silentLogger, warn },
    });
    defer(() => node.close());
    expect(node.url.startsWith('wss://')).toBe(true);
    expect(warn).not.toHaveBeenCalled();
    const client = await connect(node.url, {
      tls: { caFile: file('ca.pem') },
      logger: silentLogger,
    });
    defer(() => client.close());
    await expect(client.query('kv', 'over tls')).resolves.toBe('over tls');
  });

  it('fails to connect when the client does not trust the server certificate', async () => {
    const node = await startServer({
      tls: { certFile: file('server.pem'), keyFile: file('server.key') },
      clients: { handler: () => ({ ok: true, value: null }) },
    });
    defer(() => node.close());
    await expect(
      connect(node.url, {
        tls: { caFile: file('rogue.pem') },
        connectTimeoutMs: 300,
        logger: silentLogger,
      }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('requires a CA-signed client certificate on /peer with mutual TLS, and counts refusals', async () => {
    const node = await startServer({
      tls: { certFile: file('server.pem'), keyFile: file('server.key'), caFile: file('ca.pem') },
    });
    defer(() => node.close());
    const accepting = createPeerTransport<Message>({
      nodeId: 'n2',
      clusterId: 'c',
      secret: SECRET,
      messageSchema: MessageSchema,
      server: node,
      logger: silentLogger,
    });
    defer(() => accepting.close());
    const dialer = (
      id: string,
      tls: { certFile?: string; keyFile?: string },
    ): PeerTransport<Message> => {
      const transport = createPeerTransport<Message>({
        nodeId: id,
        clusterId: 'c',
        secret: SECRET,
        messageSchema: MessageSchema,
        peers: { n2: node.url },
        tls: { caFile: file('ca.pem'), ...tls },
        logger: silentLogger,
        reconnectInitialMs: 10,
        reconnectMaxMs: 50,
      });
      defer(() => transport.close());
      return transport;
    };
    const withCert = dialer('n1', { certFile: file('client.pem'), keyFile: file('client.key') });
    await waitForUpdate(withCert.statusUpdates(), (u) => u.status.type === 'connected');
    const received: Message[] = [];
    accepting.onMessage((message) => received.push(message));
    withCert.send([{ from: 'n1', to: 'n2', n: 42 }]);
    await vi.waitFor(() => {
      expect(received).toEqual([{ from: 'n1', to: 'n2', n: 42 }]);
    });

    const withoutCert = dialer('n0', {});
    const refused = await waitForUpdate(
      withoutCert.statusUpdates(),
      (u) => u.status.type === 'refused',
    );
    expect(refused.status).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(node.metrics().refusals.UNAUTHORIZED).toBeGreaterThanOrEqual(1);
  });
});
