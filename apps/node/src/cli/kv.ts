// `distsync kv get|put|del`: operator access to the kv service over HTTP. Any node accepts any
// request; the next endpoint is tried when one is unreachable or unavailable.
import { randomUUID } from 'node:crypto';
import { parseEndpoints, requestJson, type JsonResponse } from './endpoints.js';

export interface KvCliOptions {
  readonly endpoints: string;
  readonly token?: string;
}

async function firstAnswer(
  endpoints: readonly string[],
  request: { path: string; method: string; body?: unknown; token?: string | undefined },
): Promise<JsonResponse> {
  let last: unknown;
  // One client id and seq for every attempt: a write retried on another node applies once.
  const headers =
    request.method === 'GET'
      ? {}
      : { 'x-distsync-client-id': `cli-${randomUUID()}`, 'x-distsync-seq': '1' };
  for (const endpoint of endpoints) {
    try {
      const response = await requestJson(`${endpoint}${request.path}`, {
        method: request.method,
        body: request.body,
        token: request.token,
        headers,
        timeoutMs: 10_000,
      });
      if (response.status !== 503) return response;
      last = response;
    } catch (error) {
      last = error;
    }
  }
  if (typeof last === 'object' && last !== null && 'status' in last) return last as JsonResponse;
  throw new Error(`no endpoint answered: ${last instanceof Error ? last.message : String(last)}`);
}

function report(response: JsonResponse): number {
  if (response.status === 200) {
    console.log(JSON.stringify(response.body));
    return 0;
  }
  const error = (response.body as { error?: { code?: string; message?: string } }).error;
  console.error(
    `${error?.code ?? response.status}: ${error?.message ?? JSON.stringify(response.body)}`,
  );
  return 1;
}

/** A value on the command line is JSON when it parses as JSON, else a string. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export async function kvCommand(input: {
  action: 'get' | 'put' | 'del';
  key: string;
  value?: string;
  options: KvCliOptions;
}): Promise<number> {
  const endpoints = parseEndpoints(input.options.endpoints);
  const path = `/v1/kv/${encodeURIComponent(input.key)}`;
  const base = { path, token: input.options.token };
  switch (input.action) {
    case 'get':
      return report(await firstAnswer(endpoints, { ...base, method: 'GET' }));
    case 'put':
      return report(
        await firstAnswer(endpoints, {
          ...base,
          method: 'PUT',
          body: { value: parseValue(input.value ?? '') },
        }),
      );
    case 'del':
      return report(await firstAnswer(endpoints, { ...base, method: 'DELETE' }));
  }
}
