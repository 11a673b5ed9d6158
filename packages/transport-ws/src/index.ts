export { createTransportServer } from './server.js';
export type {
  ClientEndpointOptions,
  PeerAcceptor,
  SessionInfo,
  TransportServer,
  TransportServerOptions,
} from './server.js';
export type { ClientSession, RequestHandler } from './session.js';
export { createPeerTransport, peerEndpointUrl } from './peer.js';
export type {
  PeerInfo,
  PeerMessage,
  PeerStatus,
  PeerStatusEvent,
  PeerTransport,
  PeerTransportOptions,
} from './peer.js';
export { connect } from './client.js';
export type {
  ClusterConnection,
  ConnectOptions,
  ConnectionStatus,
  RequestOptions,
  Unsubscribe,
} from './client.js';
export {
  CLOSE_CODES,
  codeOfClose,
  isTransportErrorCode,
  RemoteError,
  TransportError,
} from './errors.js';
export type { TransportErrorCode, TransportErrorDetails } from './errors.js';
export {
  ClientRequestSchema,
  ErrorFrameSchema,
  PROTOCOL_VERSION,
  PushFrameSchema,
  ResponseErrorSchema,
  ResponseFrameSchema,
} from './messages.js';
export type {
  ClientRequest,
  HandlerResponse,
  PushFrame,
  RequestKind,
  ResponseError,
  ResponseFrame,
} from './messages.js';
export { REFUSAL_CODES } from './metrics.js';
export type { DropReason, RefusalCode, TransportMetrics } from './metrics.js';
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BAD_FRAMES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_SEND_QUEUE_BYTES_MAX,
  FRAME_SLACK_BYTES,
  MAX_HANDSHAKE_FRAME_BYTES,
} from './options.js';
export type { BackoffOptions, ConnectionLimitOptions } from './options.js';
export type { ClientTlsOptions, ServerTlsOptions } from './tls.js';
export { consoleLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { computeProof, MIN_SECRET_BYTES } from './peer-auth.js';
