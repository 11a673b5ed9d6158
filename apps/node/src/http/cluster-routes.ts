// Operator routes about the cluster itself rather than a service: leadership transfer. They sit
// under /v1 like every route, so they need the client token when one is configured, and any
// node accepts them: a follower forwards to the leader it knows (once: a forwarded request that
// meets another follower is answered NO_LEADER instead of bouncing).
import type { RaftNode, RoleState } from '@distsync/raft';
import { z } from 'zod';
import { fetchJson } from '../dashboard/fetch-json.js';
import { apiError, type NodeErrorCode, type OperationResult } from '../errors.js';
import type { RouteSpec } from '../services/registry.js';

/** Marks a request a follower forwarded to its leader. */
export const FORWARDED_HEADER = 'x-distsync-forwarded-by';

export interface ClusterControl {
  readonly nodeId: string;
  readonly raft: RaftNode;
  /** The URL of the leader this node knows, or null. */
  readonly leaderUrl: () => string | null;
  /** Sent when forwarding (the cluster shares one client token). */
  readonly token: string | undefined;
  readonly ca: Buffer | undefined;
  /** How long a transfer may take before the answer is TIMEOUT. */
  readonly transferTimeoutMs: number;
}

const TransferBody = z.strictObject({
  to: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a node id'),
});

const TransferAnswer = z.object({
  from: z.string(),
  leader: z.string(),
  term: z.number().int(),
});

type Transferred = z.infer<typeof TransferAnswer>;

/** Resolves with the first role that is not `leader`, or undefined after `timeoutMs`. */
function nextNonLeaderRole(
  raft: RaftNode,
  timeoutMs: number,
): {
  promise: Promise<RoleState | undefined>;
  cancel: () => void;
} {
  let cancel: () => void = () => undefined;
  const promise = new Promise<RoleState | undefined>((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve(undefined);
    }, timeoutMs);
    const off = raft.on('role', (role) => {
      if (role.type === 'leader' || (role.type === 'follower' && role.leaderId === null)) return;
      clearTimeout(timer);
      off();
      resolve(role);
    });
    cancel = () => {
      clearTimeout(timer);
      off();
      resolve(undefined);
    };
  });
  return { promise, cancel };
}

async function transferHere(control: ClusterControl, to: string): Promise<OperationResult> {
  const { raft } = control;
  const handOver = nextNonLeaderRole(raft, control.transferTimeoutMs);
  let started;
  try {
    started = raft.transferLeadership(to);
  } catch (error) {
    handOver.cancel();
    return apiError('UNAVAILABLE', error instanceof Error ? error.message : String(error));
  }
  if (!started.ok) {
    handOver.cancel();
    const codes: Record<typeof started.code, NodeErrorCode> = {
      NOT_LEADER: 'NO_LEADER',
      UNKNOWN_PEER: 'NOT_FOUND',
      ALREADY_LEADER: 'CONFLICT',
    };
    const message =
      started.code === 'NOT_LEADER' ? `${control.nodeId} no longer leads` : started.reason;
    return apiError(codes[started.code], message);
  }
  const role = await handOver.promise;
  if (role?.type !== 'follower' || role.leaderId === null) {
    return apiError(
      'TIMEOUT',
      `${to} did not take over within ${control.transferTimeoutMs} ms (is it connected and caught up?)`,
    );
  }
  const answer: Transferred = { from: control.nodeId, leader: role.leaderId, term: role.term };
  return { ok: true, value: answer };
}

async function forward(
  control: ClusterControl,
  input: { to: string; leaderUrl: string },
): Promise<OperationResult> {
  try {
    const answer = await fetchJson(`${input.leaderUrl}/v1/cluster/transfer-leadership`, {
      method: 'POST',
      body: { to: input.to },
      headers: { [FORWARDED_HEADER]: control.nodeId },
      token: control.token,
      ca: control.ca,
      timeoutMs: control.transferTimeoutMs + 2000,
      maxBytes: 64 * 1024,
    });
    if (answer.status === 200) return { ok: true, value: answer.body };
    const error = (answer.body as { error?: { code?: NodeErrorCode; message?: string } }).error;
    return apiError(error?.code ?? 'INTERNAL', error?.message ?? `HTTP ${answer.status}`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return apiError('UNAVAILABLE', `cannot reach the leader at ${input.leaderUrl}: ${reason}`);
  }
}

/** `POST /v1/cluster/transfer-leadership { to }`. */
export function clusterRoutes(control: ClusterControl): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/cluster/transfer-leadership',
      summary:
        'Hands the leadership to `to` (a caught-up voter) and answers once it leads; any node forwards to the leader.',
      body: TransferBody,
      response: TransferAnswer,
      errors: ['NOT_FOUND', 'CONFLICT', 'NO_LEADER', 'TIMEOUT'],
      handle: async (input) => {
        const { to } = input.body as z.infer<typeof TransferBody>;
        const status = control.raft.status();
        if (status.role === 'leader') return transferHere(control, to);
        const leaderUrl = control.leaderUrl();
        if (status.leaderId === null || leaderUrl === null) {
          return apiError('NO_LEADER', 'no leader is known: try again after the election');
        }
        if (input.header?.(FORWARDED_HEADER) !== undefined) {
          return apiError(
            'NO_LEADER',
            `${control.nodeId} does not lead (it follows ${status.leaderId})`,
          );
        }
        if (status.leaderId === to) {
          return apiError('CONFLICT', `${to} is already the leader`);
        }
        return forward(control, { to, leaderUrl });
      },
    },
  ];
}
