// Small JSON requests to one node's REST API (the scenarios that show one node's view use it).
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

export async function requestJson(
  url: string,
  init: { method?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<JsonAnswer> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    ...(init.body === undefined
      ? {}
      : { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } }),
    signal: AbortSignal.timeout(init.timeoutMs ?? 5000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, body };
}
