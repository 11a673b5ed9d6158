import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { TransportError } from './errors.js';

/** The shortest shared secret accepted: 16 bytes (128 bits). */
export const MIN_SECRET_BYTES = 16;

/** A fresh 128-bit nonce as 32 lowercase hex digits. */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

export function secretBytes(secret: unknown): Buffer {
  const bytes =
    typeof secret === 'string'
      ? Buffer.from(secret, 'utf8')
      : secret instanceof Uint8Array
        ? Buffer.from(secret)
        : undefined;
  if (bytes === undefined || bytes.byteLength < MIN_SECRET_BYTES) {
    throw new TransportError(
      'INVALID_OPTION',
      `peers.secret must be a string or Uint8Array of at least ${MIN_SECRET_BYTES} bytes`,
    );
  }
  return bytes;
}

/**
 * HMAC-SHA256 over the JSON array of the protocol label and `parts`: JSON makes the encoding of
 * the parts unambiguous, so no two different inputs share a proof. Returned as 64 hex digits.
 */
export function computeProof(secret: Buffer, parts: readonly string[]): string {
  return createHmac('sha256', secret)
    .update(JSON.stringify(['distsync-peer-v1', ...parts]))
    .digest('hex');
}

/** Compares a received proof with the expected one in constant time. */
export function proofMatches(secret: Buffer, parts: readonly string[], given: string): boolean {
  const expected = Buffer.from(computeProof(secret, parts), 'hex');
  const received = Buffer.from(given, 'hex');
  return received.byteLength === expected.byteLength && timingSafeEqual(received, expected);
}

/** The parts of the dialer's proof: it knows the secret and answers this server's nonce. */
export function helloProofParts(input: {
  clusterId: string;
  nodeId: string;
  serverNonce: string;
  dialerNonce: string;
}): string[] {
  return ['hello', input.clusterId, input.nodeId, input.serverNonce, input.dialerNonce];
}

/** The parts of the server's proof: it knows the secret and answers the dialer's nonce. */
export function welcomeProofParts(input: {
  clusterId: string;
  nodeId: string;
  serverNonce: string;
  dialerNonce: string;
}): string[] {
  return ['welcome', input.clusterId, input.nodeId, input.dialerNonce, input.serverNonce];
}
