import { readFileSync } from 'node:fs';
import { TransportError } from './errors.js';

/** TLS for a server this package creates (an https server). */
export interface ServerTlsOptions {
  /** PEM certificate chain of this node. */
  readonly certFile: string;
  /** PEM private key of this node. */
  readonly keyFile: string;
  /** PEM CA bundle that client and peer certificates must chain to (needed for mutual TLS). */
  readonly caFile?: string;
  /**
   * Which connections must present a certificate signed by `caFile`: `'peers'` (the default
   * when `caFile` is set) requires one on `/peer` only, `'all'` on every connection, `'off'`
   * on none.
   */
  readonly mutualTls?: 'off' | 'peers' | 'all';
}

/** TLS for connections this package dials (`wss://` URLs). */
export interface ClientTlsOptions {
  /** PEM CA bundle to trust instead of the system's (self-signed clusters). */
  readonly caFile?: string;
  /** PEM certificate presented to the server (mutual TLS between peers). */
  readonly certFile?: string;
  /** PEM private key for `certFile`. */
  readonly keyFile?: string;
  /** Expected server name when it differs from the URL's host. */
  readonly serverName?: string;
}

/** The loaded material for `ws`/`tls` options. */
export interface LoadedClientTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly servername?: string;
}

export function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TransportError('INVALID_OPTION', `${option} (${path}) cannot be read`, {
      cause: error,
    });
  }
}

export function loadClientTls(
  options: ClientTlsOptions | undefined,
  scope: string,
): LoadedClientTls {
  if (options === undefined) return {};
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw new TransportError(
      'INVALID_OPTION',
      `${scope}.tls.certFile and ${scope}.tls.keyFile must be given together`,
    );
  }
  return {
    ...(options.caFile === undefined ? {} : { ca: readPem(options.caFile, `${scope}.tls.caFile`) }),
    ...(options.certFile === undefined
      ? {}
      : { cert: readPem(options.certFile, `${scope}.tls.certFile`) }),
    ...(options.keyFile === undefined
      ? {}
      : { key: readPem(options.keyFile, `${scope}.tls.keyFile`) }),
    ...(options.serverName === undefined ? {} : { servername: options.serverName }),
  };
}

/**
 * Normalises a configured address into an endpoint URL: `http`/`https` become `ws`/`wss` and an
 * empty path becomes `path`. Throws `INVALID_OPTION` naming `option` for anything else.
 */
export function endpointUrl(base: string, at: { option: string; path: string }): string {
  const bad = (): TransportError =>
    new TransportError(
      'INVALID_OPTION',
      `${at.option} must be a ws://, wss://, http:// or https:// URL (got ${JSON.stringify(base)})`,
    );
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw bad();
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw bad();
  if (url.pathname === '/' || url.pathname === '') url.pathname = at.path;
  return url.toString();
}
