// A lock holder in a process of its own, for the locks scenario: it connects, acquires the lock
// with a short session TTL, prints one JSON line ({ token, sessionId }) and holds the lock until
// it is killed, so the scenario can show a crashed holder's lock freed by its session's TTL.
import { LockClient } from '@distsync/lock-manager';
import { connect, silentLogger } from '@distsync/transport-ws';

const [endpoints = '', name = '', ttl = ''] = process.argv.slice(2);
const token = process.env.DISTSYNC_TOKEN;
const connection = await connect(endpoints.split(','), {
  logger: silentLogger,
  ...(token === undefined ? {} : { token }),
});
const client = new LockClient({ connection, ttlMs: Number(ttl) });
const handle = await client.acquire(name, { timeoutMs: 10_000 });
process.stdout.write(`${JSON.stringify({ token: handle.token, sessionId: handle.sessionId })}\n`);
// Hold until killed: the keep-alives keep the session (and so the lock) alive meanwhile.
setInterval(() => undefined, 60_000);
