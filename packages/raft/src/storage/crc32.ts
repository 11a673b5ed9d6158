// CRC-32 (IEEE 802.3, the polynomial zlib and gzip use) for WAL records and snapshot files.
// Node.js ships `zlib.crc32` from 20.15 and 22.2; on an older runtime a table-driven version in
// plain TypeScript computes the same values, so files stay readable across Node versions.
import zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, value?: number) => number;

let table: Uint32Array | undefined;

function buildTable(): Uint32Array {
  const result = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    result[n] = c >>> 0;
  }
  return result;
}

/** The portable fallback; exported so a test can check it against `zlib.crc32`. */
export function crc32Table(data: Uint8Array, value = 0): number {
  table ??= buildTable();
  let crc = (value ^ 0xffffffff) >>> 0;
  for (const byte of data) {
    crc = (table[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: Crc32 }).crc32;

/** CRC-32 of `data`, continuing from `value` (0 to start). */
export const crc32: Crc32 = typeof native === 'function' ? native : crc32Table;
