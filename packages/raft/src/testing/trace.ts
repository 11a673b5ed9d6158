// A readable, bounded trace of what the simulator did: one line per event (time, node, what).
// Only the last `capacity` lines are kept for failure reports, but every line feeds a running
// hash, so two runs can be compared for identical behaviour without storing whole traces.

export class Trace {
  private readonly lines: string[] = [];
  private readonly capacity: number;
  private next = 0;
  private hashLow = 0x811c9dc5;
  private hashHigh = 0x01000193;
  private total = 0;

  constructor(options: { capacity: number }) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError('trace capacity must be a positive integer');
    }
    this.capacity = options.capacity;
  }

  record(timeMs: number, node: string, text: string): void {
    const line = `${timeMs.toFixed(3).padStart(11)}ms ${node.padEnd(4)} ${text}`;
    this.total++;
    this.mix(line);
    if (this.lines.length < this.capacity) {
      this.lines.push(line);
    } else {
      this.lines[this.next] = line;
    }
    this.next = (this.next + 1) % this.capacity;
  }

  /** How many lines were recorded in all. */
  get count(): number {
    return this.total;
  }

  /** A fingerprint of every line recorded so far, for determinism checks. */
  get fingerprint(): string {
    const low = (this.hashLow >>> 0).toString(16).padStart(8, '0');
    const high = (this.hashHigh >>> 0).toString(16).padStart(8, '0');
    return `${high}${low}:${this.total}`;
  }

  /** The last `limit` lines, oldest first. */
  tail(limit: number): string[] {
    const ordered =
      this.lines.length < this.capacity
        ? this.lines
        : [...this.lines.slice(this.next), ...this.lines.slice(0, this.next)];
    return ordered.slice(Math.max(0, ordered.length - limit));
  }

  private mix(line: string): void {
    // Two independent FNV-1a style 32-bit hashes make an accidental collision very unlikely.
    let low = this.hashLow;
    let high = this.hashHigh;
    for (let i = 0; i < line.length; i++) {
      const code = line.charCodeAt(i);
      low = Math.imul(low ^ code, 0x01000193);
      high = Math.imul(high ^ code, 0x0100019d) ^ (low >>> 7);
    }
    this.hashLow = Math.imul(low ^ 10, 0x01000193);
    this.hashHigh = high;
  }
}
