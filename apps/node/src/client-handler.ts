// The /client WebSocket handler: ClusterConnection requests (`command`, `query` on a service
// such as `kv` or `sessions`) go to the service registry, validated against the operations the
// service offers clients, and answer the same codes as the HTTP API.
import type { HandlerResponse, RequestHandler } from '@distsync/transport-ws';
import type { Operations } from './operations.js';
import type { ServiceRegistry, ServiceRuntime } from './services/registry.js';

function refuse(code: string, message: string): HandlerResponse {
  return { ok: false, error: { code, message } };
}

function validate(
  request: { kind: 'command' | 'query'; service: string; payload: unknown },
  registry: ServiceRegistry,
): { payload: unknown } | HandlerResponse {
  const service = registry.get(request.service);
  if (service === undefined) {
    return refuse(
      'BAD_REQUEST',
      `no service ${JSON.stringify(request.service)} (services: ${registry.names().join(', ')})`,
    );
  }
  const schema =
    request.kind === 'command' ? service.clientCommandSchema : service.clientQuerySchema;
  const checked = schema.safeParse(request.payload);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const where = issue?.path.map(String).join('.') ?? '';
    return refuse(
      'BAD_REQUEST',
      `${request.service} ${request.kind}: ${where === '' ? '' : `${where}: `}${issue?.message ?? 'invalid'}`,
    );
  }
  return { payload: checked.data };
}

export function createClientHandler(input: {
  registry: ServiceRegistry;
  operations: Operations;
  runtimes?: ReadonlyMap<string, ServiceRuntime>;
}): RequestHandler {
  const { registry, operations, runtimes } = input;
  return async (request) => {
    const kind = request.kind;
    if (kind === 'subscribe' || kind === 'unsubscribe') {
      if (registry.get(request.service) === undefined) {
        return refuse('BAD_REQUEST', `no service ${JSON.stringify(request.service)}`);
      }
      const runtime = runtimes?.get(request.service);
      const topic = (request.payload as { topic?: unknown } | null)?.topic;
      if (
        kind === 'unsubscribe' ||
        runtime?.authorizeSubscribe === undefined ||
        typeof topic !== 'string'
      ) {
        return { ok: true, value: null };
      }
      const verdict = runtime.authorizeSubscribe(topic, request.clientId);
      return verdict.ok
        ? { ok: true, value: null }
        : refuse(verdict.error.code, verdict.error.message);
    }
    const checked = validate(
      { kind, service: request.service, payload: request.payload },
      registry,
    );
    if (!('payload' in checked)) return checked;
    const service = operations.forService(request.service);
    const result =
      kind === 'command'
        ? await service.command(checked.payload, {
            clientId: request.clientId,
            seq: request.seq,
            ...(request.lowestUnackedSeq === undefined
              ? {}
              : { lowestUnackedSeq: request.lowestUnackedSeq }),
          })
        : await service.query(checked.payload);
    return result.ok
      ? { ok: true, value: result.value }
      : refuse(result.error.code, result.error.message);
  };
}
