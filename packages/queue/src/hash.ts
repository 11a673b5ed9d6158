// Partition placement: a consistent-hash ring with virtual nodes over a deterministic hash
// (FNV-1a, 32 bits), so every replica and every client picks the same partition for a key, and
// growing a queue from n to n + 1 partitions moves only about 1/(n + 1) of the keys.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over the UTF-16 code units of `text` (both bytes of each), as an unsigned 32-bit int. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    hash = Math.imul(hash ^ (unit & 0xff), FNV_PRIME);
    hash = Math.imul(hash ^ (unit >>> 8), FNV_PRIME);
  }
  // A final avalanche (murmur3's fmix32): FNV alone clusters short, similar keys.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** Virtual nodes per partition on the ring. */
export const VIRTUAL_NODES_PER_PARTITION = 64;

/** A ring of `partitions` partitions, each at `virtualNodes` points. Immutable. */
export class HashRing {
  readonly partitions: number;
  readonly #points: Uint32Array;
  readonly #owners: Uint16Array;

  constructor(partitions: number, virtualNodes: number = VIRTUAL_NODES_PER_PARTITION) {
    this.partitions = partitions;
    const points: { point: number; owner: number }[] = [];
    for (let partition = 0; partition < partitions; partition += 1) {
      for (let replica = 0; replica < virtualNodes; replica += 1) {
        points.push({ point: fnv1a32(`p${partition}#${replica}`), owner: partition });
      }
    }
    // Ties (vanishingly rare) break by partition number, so the order is total.
    points.sort((a, b) => a.point - b.point || a.owner - b.owner);
    this.#points = Uint32Array.from(points.map((entry) => entry.point));
    this.#owners = Uint16Array.from(points.map((entry) => entry.owner));
  }

  /** The partition owning `key`: the first ring point at or after the key's hash, wrapping. */
  partitionOf(key: string): number {
    const hash = fnv1a32(key);
    let low = 0;
    let high = this.#points.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#points[middle] ?? 0) < hash) low = middle + 1;
      else high = middle;
    }
    return this.#owners[low === this.#points.length ? 0 : low] ?? 0;
  }
}
