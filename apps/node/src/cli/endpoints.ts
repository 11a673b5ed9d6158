// Talking to nodes from the CLI: endpoint lists and small HTTP helpers with bounded waits.

/** The embedded cluster's default endpoints. */
export const DEFAULT_ENDPOINTS =
  'http://127.0.0.1:7401,http://127.0.0.1:7402,http://127.0.0.1:7403';

/** `a:1,http://b:2` -> `['http://a:1', 'http://b:2']`. */
export function parseEndpoints(list: string): string[] {
  return list
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => (/^https?:\/\//.test(item) ? item : `http://${item}`).replace(/\/+$/, ''));
}

export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
}

/** One request with a deadline; rejects on network errors and timeouts. */
export async function requestJson(
  url: string,
  init: {
    method?: string;
    body?: unknown;
    timeoutMs?: number;
    token?: string | undefined;
    headers?: Record<string, string>;
  } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(init.timeoutMs ?? 2000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (metrics, a proxy's error page): keep the text.
  }
  return { status: response.status, body };
}
