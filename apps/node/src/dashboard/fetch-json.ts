// A small JSON request from one node to another (the dashboard's view of its peers, a forwarded
// leadership transfer), over http or https with the cluster's CA when TLS is configured, which
// the global fetch cannot take without another dependency.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface FetchJsonOptions {
  readonly token: string | undefined;
  /** PEM of the CA that signed the peers' certificates. */
  readonly ca: Buffer | undefined;
  readonly timeoutMs: number;
  /** Bodies larger than this are refused (a status document is a few KiB). */
  readonly maxBytes: number;
  /** GET unless told; a body is sent as JSON. */
  readonly method?: 'GET' | 'POST';
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

function readBody(response: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    response.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        response.destroy(new Error(`the answer exceeds ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    response.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    response.on('error', reject);
  });
}

/** Requests `url` and parses its JSON; rejects on a network error, a timeout or a non-JSON body. */
export function fetchJson(url: string, options: FetchJsonOptions): Promise<JsonAnswer> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      target,
      {
        method: options.method ?? 'GET',
        headers: {
          accept: 'application/json',
          ...options.headers,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        },
        timeout: options.timeoutMs,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      },
      (response) => {
        readBody(response, options.maxBytes)
          .then((text) => {
            resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
          })
          .catch(reject);
      },
    );
    outgoing.on('timeout', () => {
      outgoing.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
