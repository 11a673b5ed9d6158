// One JSON request to a node with a client-side timeout, classified the way the checkers need
// it: a definite answer (any HTTP status), a request that never left (connection refused: the
// node is down, nothing can have happened), or an unknown outcome (timeout, reset mid-request).

export type HttpOutcome =
  | { readonly kind: 'answer'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'refused'; readonly message: string }
  | { readonly kind: 'unknown'; readonly message: string };

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    if ('code' in current && typeof current.code === 'string') return current.code;
    current = 'cause' in current ? current.cause : undefined;
  }
  return undefined;
}

export async function requestJson(request: {
  url: string;
  method?: string;
  body?: unknown;
  timeoutMs: number;
}): Promise<HttpOutcome> {
  try {
    const response = await fetch(request.url, {
      method: request.method ?? 'GET',
      ...(request.body === undefined
        ? {}
        : { body: JSON.stringify(request.body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { kind: 'answer', status: response.status, body };
  } catch (error) {
    const code = causeCode(error);
    const message =
      error instanceof Error
        ? `${error.name}: ${error.message} ${code ?? ''}`.trim()
        : String(error);
    return code === 'ECONNREFUSED' ? { kind: 'refused', message } : { kind: 'unknown', message };
  }
}

/** `{ error: { code, message } }` of an error answer, if it has that shape. */
export function errorOf(body: unknown): { code: string; message: string } | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error = body.error;
  if (typeof error !== 'object' || error === null) return undefined;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : 'UNKNOWN';
  const message = 'message' in error && typeof error.message === 'string' ? error.message : '';
  return { code, message };
}

/**
 * Whether an error answer to a write proves the write did not (and will not) take effect.
 * Only refusals made before the command entered the log, a proposal the node saw overwritten, or
 * a forwarded one it saw lost in a leader change (raft answers that only once it cannot commit)
 * qualify; a timeout (TIMEOUT, or NO_LEADER "no leader is known: ..." after one)
 * may still commit later, so it stays unknown.
 */
export function isDefiniteWriteFailure(status: number, body: unknown): boolean {
  const error = errorOf(body);
  if (status >= 400 && status < 500 && status !== 408) return true;
  if (error === undefined) return false;
  if (error.code === 'NO_LEADER') {
    return (
      error.message === 'no leader is known; retry' ||
      error.message.startsWith('this node is not the leader') ||
      error.message.startsWith('leadership is being transferred') ||
      error.message.startsWith('the proposal was overwritten') ||
      error.message.startsWith('the forwarded proposal was lost')
    );
  }
  return false;
}

/** Codes after which a write may still have applied: the checkers treat it as unknown. */
const TIMEOUT_LIKE = new Set(['TIMEOUT', 'NO_LEADER', 'UNAVAILABLE', 'INTERNAL']);

/** How a checker sees one HTTP exchange: ok, a definite failure, or unknown (may have applied). */
export function outcomeOf(outcome: HttpOutcome): 'ok' | 'fail' | 'unknown' {
  if (outcome.kind === 'refused') return 'fail';
  if (outcome.kind === 'unknown') return 'unknown';
  if (outcome.status === 200) return 'ok';
  const code = errorOf(outcome.body)?.code ?? '';
  return TIMEOUT_LIKE.has(code) || outcome.status >= 500 ? 'unknown' : 'fail';
}
