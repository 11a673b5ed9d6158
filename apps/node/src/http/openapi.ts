// /v1/openapi.json, generated from the same zod schemas the routes validate with (zod 4's
// toJSONSchema over a registry, so shared schemas such as JsonValue become components).
import { z } from 'zod';
import { HTTP_STATUS_OF_CODE, type NodeErrorCode } from '../errors.js';
import { JsonValueSchema } from '../services/kv.js';
import type { RouteSpec } from '../services/registry.js';

/** `put /v1/kv/{key}/cas` -> `putKvKeyCas`. */
export function operationIdOf(route: Pick<RouteSpec, 'method' | 'path'>): string {
  const words = route.path
    .split('/')
    .filter((part) => part !== '' && part !== 'v1')
    .map((part) => part.replace(/[{}]/g, ''));
  return route.method + words.map((word) => (word[0] ?? '').toUpperCase() + word.slice(1)).join('');
}

/** Codes any /v1 route may answer, whatever it does. */
const COMMON_ERRORS: readonly NodeErrorCode[] = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'TIMEOUT',
  'TOO_LARGE',
  'NO_LEADER',
  'UNAVAILABLE',
];

const ErrorBodySchema = z.strictObject({
  error: z.strictObject({ code: z.string(), message: z.string() }),
});

function components(routes: readonly RouteSpec[], io: 'input' | 'output'): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  registry.add(JsonValueSchema, { id: 'JsonValue' });
  registry.add(ErrorBodySchema, { id: 'Error' });
  for (const route of routes) {
    const id = operationIdOf(route);
    if (io === 'input' && route.body !== undefined) registry.add(route.body, { id: `${id}Body` });
    if (io === 'output') registry.add(route.response, { id: `${id}Response` });
  }
  const { schemas } = z.toJSONSchema(registry, {
    io,
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const { $schema: _schema, $id: _id, ...rest } = schema as Record<string, unknown>;
      return [id, rest];
    }),
  );
}

function ref(id: string): { $ref: string } {
  return { $ref: `#/components/schemas/${id}` };
}

function operation(route: RouteSpec): Record<string, unknown> {
  const id = operationIdOf(route);
  const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => ({
    name: match[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const responses: Record<string, unknown> = {
    '200': { description: 'OK', content: { 'application/json': { schema: ref(`${id}Response`) } } },
  };
  for (const code of [...COMMON_ERRORS, ...route.errors]) {
    const status = String(HTTP_STATUS_OF_CODE[code]);
    const existing = responses[status] as { description: string } | undefined;
    responses[status] = {
      description: existing === undefined ? code : `${existing.description}, ${code}`,
      content: { 'application/json': { schema: ref('Error') } },
    };
  }
  return {
    operationId: id,
    summary: route.summary,
    parameters: params,
    ...(route.body === undefined
      ? {}
      : {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref(`${id}Body`) } },
          },
        }),
    responses,
  };
}

/** The OpenAPI 3.1 document of every registered route. */
export function openApiDocument(routes: readonly RouteSpec[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    paths[route.path] = { ...paths[route.path], [route.method]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'distsync REST API',
      version: '1',
      description:
        'Every node accepts every request; followers forward writes to the leader and serve linearizable reads through ReadIndex. Errors are { error: { code, message } }.',
    },
    paths,
    components: { schemas: { ...components(routes, 'output'), ...components(routes, 'input') } },
  };
}
