import { Packr } from 'msgpackr';

/**
 * One Packr for the whole package. Records, structured cloning and the extra types are off so
 * the wire is plain MessagePack any decoder reads, maps decode to plain objects, and untrusted
 * input cannot make the decoder build Maps, Sets, Errors or RegExps. Binary data is copied out
 * of the frame (`copyBuffers`) so a retained `Uint8Array` (a Raft entry) does not pin a whole
 * multi-megabyte frame in memory. 64-bit integers decode as bigint (msgpackr's default), which
 * every numeric schema refuses, rather than silently losing precision.
 */
const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  structuredClone: false,
  mapsAsObjects: true,
  copyBuffers: true,
  bundleStrings: false,
  variableMapSize: true,
});

/** Encodes one value; throws a TypeError-like error for values MessagePack cannot carry. */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Builds one frame that decodes to the array of the already encoded `items`: a MessagePack array
 * header followed by the items' bytes, so batching costs one copy and no re-encoding.
 */
export function encodeBatch(items: readonly Uint8Array[], itemBytes: number): Uint8Array {
  const count = items.length;
  const headerBytes = count < 16 ? 1 : count < 65_536 ? 3 : 5;
  // Every byte is written below, so the unzeroed allocation is safe and saves the fill.
  const frame = Buffer.allocUnsafe(headerBytes + itemBytes);
  if (count < 16) {
    frame[0] = 0x90 | count;
  } else if (count < 65_536) {
    frame[0] = 0xdc;
    frame.writeUInt16BE(count, 1);
  } else {
    frame[0] = 0xdd;
    frame.writeUInt32BE(count, 1);
  }
  let offset = headerBytes;
  for (const item of items) {
    frame.set(item, offset);
    offset += item.byteLength;
  }
  return frame;
}

/** The bytes a batch frame of `count` items totalling `itemBytes` takes. */
export function batchFrameBytes(count: number, itemBytes: number): number {
  return (count < 16 ? 1 : count < 65_536 ? 3 : 5) + itemBytes;
}

export type DecodeResult = { ok: true; value: unknown } | { ok: false; reason: string };

/** Decodes one frame; never throws (garbage, truncation or trailing bytes give a reason). */
export function decodeFrame(bytes: Uint8Array): DecodeResult {
  if (bytes.byteLength === 0) return { ok: false, reason: 'empty frame' };
  try {
    return { ok: true, value: packr.unpack(bytes) as unknown };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : 'undecodable frame' };
  }
}
