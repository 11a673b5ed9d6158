// Every frame of both protocols, defined once as zod schemas (STYLE.md 13). A frame is either a
// control object (handshake, ping, error) or an array of data items (peer messages, client
// requests, responses, pushes) batched in one event-loop turn. Parsing happens where bytes enter.
import { z } from 'zod';

/** Version of both wire protocols; a peer or client speaking another one is refused. */
export const PROTOCOL_VERSION = 1;

const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@-]+$/, 'ids may contain letters, digits and . _ : @ -');
const Nonce = z.string().regex(/^[0-9a-f]{32}$/, 'a nonce is 32 lowercase hex digits');
const Proof = z.string().regex(/^[0-9a-f]{64}$/, 'a proof is 64 lowercase hex digits');

export const PingFrameSchema = z.object({ type: z.literal('ping') });

/** A refusal or complaint; sent before a close, or alone for a dropped frame. */
export const ErrorFrameSchema = z.object({
  type: z.literal('error'),
  code: z.string().min(1).max(64),
  message: z.string().max(1024),
});
export type ErrorFrame = z.infer<typeof ErrorFrameSchema>;

// Peer protocol: challenge (server) -> hello (dialer) -> welcome (server), then arrays of messages.

export const PeerChallengeSchema = z.object({
  type: z.literal('challenge'),
  protocol: z.number().int(),
  nonce: Nonce,
});
export const PeerHelloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  clusterId: z.string().min(1).max(128),
  nodeId: Id,
  nonce: Nonce,
  proof: Proof,
});
export type PeerHello = z.infer<typeof PeerHelloSchema>;
export const PeerWelcomeSchema = z.object({
  type: z.literal('welcome'),
  nodeId: Id,
  proof: Proof,
});

export const PeerControlSchema = z.discriminatedUnion('type', [
  PingFrameSchema,
  ErrorFrameSchema,
  PeerChallengeSchema,
  PeerHelloSchema,
  PeerWelcomeSchema,
]);
export type PeerControl = z.infer<typeof PeerControlSchema>;

// Client protocol: hello (client) -> welcome (server), then arrays of requests / responses / pushes.

export const ClientHelloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  clientId: Id,
  token: z.string().max(4096).optional(),
});
export const ClientWelcomeSchema = z.object({
  type: z.literal('welcome'),
  sessionId: z.string().min(1).max(128),
  nodeId: z.string().max(128).optional(),
  /** The largest frame the server accepts; the client refuses bigger requests locally. */
  maxFrameBytes: z.number().int().positive().max(2_147_483_647).optional(),
});
export const ClientControlSchema = z.discriminatedUnion('type', [
  PingFrameSchema,
  ErrorFrameSchema,
  ClientHelloSchema,
  ClientWelcomeSchema,
]);
export type ClientControl = z.infer<typeof ClientControlSchema>;

const RequestId = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** Just enough of a request to answer it: parsed first so a bad request can be told its id. */
export const RequestEnvelopeSchema = z.object({ type: z.literal('request'), id: RequestId });

const requestBase = {
  type: z.literal('request'),
  id: RequestId,
  clientId: Id,
  /** Per-command sequence number; a retry reuses it so the server applies the command once. */
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /**
   * The oldest command seq this client still awaits an answer for: the server may forget the
   * results of lower seqs (Raft dissertation 6.3). Absent: the client has nothing older in flight.
   */
  lowestUnackedSeq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  timeoutMs: z.number().int().positive().max(2_147_483_647),
};
const ServiceName = z.string().min(1).max(128);
const Topic = z.string().min(1).max(256);

/** A command (changes state, deduplicated by clientId + seq) or a query (reads state). */
export const OperationRequestSchema = z.object({
  ...requestBase,
  kind: z.enum(['command', 'query']),
  service: ServiceName,
  payload: z.unknown(),
});
/** Starts or stops the pushes of one topic to this session. */
export const SubscriptionRequestSchema = z.object({
  ...requestBase,
  kind: z.enum(['subscribe', 'unsubscribe']),
  service: ServiceName,
  payload: z.object({ topic: Topic }),
});
export const ClientRequestSchema = z.discriminatedUnion('kind', [
  OperationRequestSchema,
  SubscriptionRequestSchema,
]);
export type ClientRequest = z.infer<typeof ClientRequestSchema>;
export type RequestKind = ClientRequest['kind'];

export const ResponseErrorSchema = z.object({
  code: z.string().min(1).max(64),
  message: z.string().max(4096),
  leaderHint: z.string().max(128).optional(),
  leaderUrl: z.string().max(2048).optional(),
});
export type ResponseError = z.infer<typeof ResponseErrorSchema>;

export const ResponseFrameSchema = z.discriminatedUnion('ok', [
  z.object({ type: z.literal('response'), id: RequestId, ok: z.literal(true), value: z.unknown() }),
  z.object({
    type: z.literal('response'),
    id: RequestId,
    ok: z.literal(false),
    error: ResponseErrorSchema,
  }),
]);
export type ResponseFrame = z.infer<typeof ResponseFrameSchema>;

export const PushFrameSchema = z.object({
  type: z.literal('push'),
  topic: Topic,
  payload: z.unknown(),
});
export type PushFrame = z.infer<typeof PushFrameSchema>;

/** What a request handler returns: the value, or an error with a code (its own or ours). */
export type HandlerResponse = { ok: true; value: unknown } | { ok: false; error: ResponseError };
