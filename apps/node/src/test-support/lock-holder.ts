// A lock-holding application process for the kill -9 test: it connects to the endpoints given as
// arguments, takes the lock named by LOCK_NAME with a session of LOCK_TTL_MS, prints the grant as
// one JSON line and then holds it (keep-alives running) until it is killed.
import { connect } from '@distsync/transport-ws';
import { LockClient } from '@distsync/lock-manager';

const endpoints = process.argv.slice(2);
const connection = await connect(endpoints, { requestTimeoutMs: 8000 });
const client = new LockClient({ connection, ttlMs: Number(process.env.LOCK_TTL_MS ?? 1000) });
const handle = await client.acquire(process.env.LOCK_NAME ?? 'lock', { timeoutMs: 10_000 });
process.stdout.write(
  `${JSON.stringify({ token: handle.token, sessionId: handle.sessionId, pid: process.pid })}\n`,
);
// Keep-alive timers do not hold a process open on their own: this does, until the kill.
setInterval(() => undefined, 60_000);
