// Peer links made of Linux network namespaces, as Jepsen partitions real hosts: each node runs
// in a namespace of its own, with one veth into a bridge that the harness (in the root
// namespace) also sits on, so clients reach every node and nodes reach each other over a real
// (virtual) Ethernet. Root only; `netnsSupport()` says whether this machine can.
//
// A cut link `from -> to` is a permanent neighbour entry in `from`'s namespace mapping `to`'s
// address to the MAC address of a sink: `from`'s IP packets to `to` leave, cross the bridge and
// land in the sink's namespace, which has no address and drops them. The cut is silent (no
// error, no RST: the sender's TCP retransmits into the void, as across a partition) and
// directed (`to` still reaches `from`); TCP streams survive a heal, as they do on a real
// network. The sink's IP counters give the packets dropped. This needs only `ip` and `bridge`
// (iproute2), not iptables or tc actions, which this machine's kernel does not have.
//
// Each cluster claims a /24 of 10.213.0.0/16 by creating its bridge (`dsk<k>`, atomic: the
// kernel refuses a second), whose alias names the owning process. Everything is removed at
// close, by the watchdog if the harness is killed, and by the next harness's sweep if even the
// watchdog died (a bridge whose owner is gone).
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestkitError } from '../errors.js';
import type { PeerDrops, PeerLinks } from './cluster.js';
import { registerNetwork } from './processes.js';

const PREFIX = 'dsk';
const ALIAS = 'distsync-testkit pid=';
/** The MAC of every cluster's sink (each sink sits on its own bridge, so one value is enough). */
const SINK_MAC = '02:d5:00:00:00:01';
const FIRST_SUBNET = 1;
const LAST_SUBNET = 250;

interface IpResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], input?: string): IpResult {
  const result = spawnSync(command, [...args], {
    encoding: 'utf8',
    timeout: 10_000,
    ...(input === undefined ? {} : { input }),
  });
  return {
    ok: result.status === 0,
    stdout: result.stdout,
    stderr: result.error === undefined ? result.stderr : String(result.error),
  };
}

function mustRun(command: string, args: readonly string[], input?: string): string {
  const result = run(command, args, input);
  if (!result.ok) {
    throw new TestkitError(
      'REQUEST_FAILED',
      `${command} ${args.join(' ')} failed: ${result.stderr.trim() || 'no message'}`,
    );
  }
  return result.stdout;
}

let support: { readonly ok: true } | { readonly ok: false; readonly reason: string } | undefined;

/**
 * Whether this process can build namespace networks: root, iproute2's `ip` and `bridge`,
 * util-linux's `nsenter`, and a kernel that lets it add a namespace (tried once, then cached).
 */
export function netnsSupport():
  { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  if (support !== undefined) return support;
  if (process.platform !== 'linux') return (support = { ok: false, reason: 'not Linux' });
  if (process.getuid?.() !== 0) return (support = { ok: false, reason: 'not running as root' });
  for (const tool of ['ip', 'bridge', 'nsenter']) {
    if (!run(tool, ['-V']).ok && !run(tool, ['--version']).ok) {
      return (support = { ok: false, reason: `${tool} is not installed (iproute2, util-linux)` });
    }
  }
  const probe = `${PREFIX}probe${process.pid}`;
  const added = run('ip', ['netns', 'add', probe]);
  run('ip', ['netns', 'del', probe]);
  support = added.ok
    ? { ok: true }
    : { ok: false, reason: `ip netns add failed: ${added.stderr.trim()}` };
  return support;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes a cluster network's namespaces and bridge (each step may already be gone). */
export function removeNetwork(bridge: string): void {
  const namespaces = run('ip', ['netns', 'list']).stdout.split('\n');
  for (const line of namespaces) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith(`${bridge}n`) || name === `${bridge}s`) run('ip', ['netns', 'del', name]);
  }
  // Host-side veths go with their peers' namespaces; the bridge goes last.
  run('ip', ['link', 'del', bridge]);
}

/** Bridges of ours whose owner process is gone: a harness that died without cleaning up. */
function sweepStale(): void {
  const listing = run('ip', ['-j', 'link', 'show', 'type', 'bridge']);
  if (!listing.ok) return;
  let links: { ifname?: string; ifalias?: string }[];
  try {
    links = JSON.parse(listing.stdout) as { ifname?: string; ifalias?: string }[];
  } catch {
    return;
  }
  for (const link of links) {
    const name = link.ifname ?? '';
    if (!new RegExp(`^${PREFIX}\\d+$`).test(name)) continue;
    const owner =
      link.ifalias?.startsWith(ALIAS) === true ? Number(link.ifalias.slice(ALIAS.length)) : NaN;
    if (!pidAlive(owner)) removeNetwork(name);
  }
}

/** Runs `body` holding a machine-wide lock file (sweep and claim must not interleave). */
function withLock<T>(body: () => T): T {
  const path = join(tmpdir(), 'distsync-testkit-netns.lock');
  const deadline = Date.now() + 15_000;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, String(process.pid));
        return body();
      } finally {
        closeSync(fd);
        unlinkSync(path);
      }
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path, 'utf8'));
    } catch {
      continue;
    }
    // An empty file is a holder between its open and its write: wait for it, unless it has been
    // empty for seconds (that holder died in between).
    const abandoned =
      Number.isInteger(holder) && holder > 0
        ? !pidAlive(holder)
        : Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 5000;
    if (existsSync(path) && abandoned) {
      try {
        unlinkSync(path);
      } catch {
        // Another process removed it first.
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new TestkitError('START_TIMEOUT', `${path} held by process ${holder} for 15 s`);
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

export class NetnsNetwork implements PeerLinks {
  /** The bridge, `dsk<k>`; also the prefix of the namespaces (`dsk<k>n1`, ..., sink `dsk<k>s`). */
  readonly bridge: string;
  /** `10.213.<k>` */
  readonly #net: string;
  readonly #count: number;
  /** Directed cuts in place, `from>to`. */
  readonly #cuts = new Set<string>();
  #closed = false;
  /** The sink's count when the network was closed. */
  #droppedAtClose = 0;
  readonly #unregister: () => void;

  private constructor(subnet: number, count: number) {
    this.bridge = `${PREFIX}${subnet}`;
    this.#net = `10.213.${subnet}`;
    this.#count = count;
    this.#unregister = registerNetwork(this.bridge, () => {
      removeNetwork(this.bridge);
    });
  }

  /** Builds a network for `count` nodes (1 to 9); throws REQUEST_FAILED naming the step that failed. */
  static create(count: number): NetnsNetwork {
    const supported = netnsSupport();
    if (!supported.ok) {
      throw new TestkitError('BAD_OPTION', `network namespaces unavailable: ${supported.reason}`);
    }
    if (!Number.isInteger(count) || count < 1 || count > 9) {
      throw new TestkitError('BAD_OPTION', `nodes: expected 1 to 9, got ${count}`);
    }
    const subnet = withLock(() => {
      sweepStale();
      for (let k = FIRST_SUBNET; k <= LAST_SUBNET; k += 1) {
        if (run('ip', ['link', 'add', `${PREFIX}${k}`, 'type', 'bridge']).ok) {
          mustRun('ip', ['link', 'set', `${PREFIX}${k}`, 'alias', `${ALIAS}${process.pid}`]);
          return k;
        }
      }
      throw new TestkitError('START_TIMEOUT', `all ${LAST_SUBNET} test subnets are in use`);
    });
    const network = new NetnsNetwork(subnet, count);
    try {
      network.#build();
    } catch (error) {
      network.close();
      throw error;
    }
    return network;
  }

  #build(): void {
    const bridge = this.bridge;
    const ends = [...Array(this.#count).keys()].map((index) => this.namespace(index));
    const sink = `${bridge}s`;
    const root = [
      `addr add ${this.#net}.254/24 dev ${bridge}`,
      `link set ${bridge} up`,
      ...[...ends, sink].flatMap((ns) => [
        `netns add ${ns}`,
        `link add ${ns} type veth peer name eth0 netns ${ns}`,
        `link set ${ns} master ${bridge}`,
        `link set ${ns} up`,
      ]),
    ];
    mustRun('ip', ['-batch', '-'], `${root.join('\n')}\n`);
    ends.forEach((ns, index) => {
      mustRun(
        'ip',
        ['-n', ns, '-batch', '-'],
        [
          `addr add ${this.address(index)}/24 dev eth0`,
          'link set eth0 up',
          'link set lo up',
          '',
        ].join('\n'),
      );
    });
    mustRun('bridge', ['fdb', 'replace', SINK_MAC, 'dev', sink, 'master', 'static']);
    // Only frames for the sink's MAC reach it: no flooded multicast (IGMP reports), broadcast
    // (ARP), unknown unicast or multicast for a router port, so its counters count what the
    // cuts dropped and nothing else.
    mustRun('bridge', [
      ...['link', 'set', 'dev', sink],
      ...['flood', 'off', 'mcast_flood', 'off', 'bcast_flood', 'off', 'mcast_router', '0'],
    ]);
    // The sink: no address, so every IP packet it gets is dropped (and counted) on arrival.
    mustRun('ip', ['-n', sink, 'link', 'set', 'eth0', 'address', SINK_MAC, 'up']);
  }

  get size(): number {
    return this.#count;
  }

  /** `10.213.<k>.0/24` */
  get subnet(): string {
    return `${this.#net}.0/24`;
  }

  namespace(index: number): string {
    return `${this.bridge}n${index + 1}`;
  }

  /** Node `index`'s address in its namespace (the harness reaches it there too). */
  address(index: number): string {
    return `${this.#net}.${index + 1}`;
  }

  /** `command args` run inside node `index`'s namespace (nsenter execs: the pid stays). */
  wrap(
    index: number,
    command: string,
    args: readonly string[],
  ): { command: string; args: string[] } {
    return {
      command: 'nsenter',
      args: [`--net=/run/netns/${this.namespace(index)}`, '--', command, ...args],
    };
  }

  /** Cuts the directed link `from -> to`: whatever `from` sends `to` is dropped, silently. */
  cut(from: number, to: number): void {
    this.#check(from);
    this.#check(to);
    if (from === to || this.#cuts.has(`${from}>${to}`)) return;
    mustRun('ip', [
      ...['-n', this.namespace(from), 'neigh', 'replace', this.address(to)],
      ...['lladdr', SINK_MAC, 'nud', 'permanent', 'dev', 'eth0'],
    ]);
    this.#cuts.add(`${from}>${to}`);
  }

  /** Directed links cut now, as index pairs. */
  cuts(): [number, number][] {
    return [...this.#cuts].map((link) => link.split('>').map(Number) as [number, number]);
  }

  /** Removes every cut; the next packet resolves the real neighbour again. */
  heal(): void {
    const byNamespace = new Map<number, number[]>();
    for (const [from, to] of this.cuts()) {
      byNamespace.set(from, [...(byNamespace.get(from) ?? []), to]);
    }
    for (const [from, targets] of byNamespace) {
      const lines = targets.map((to) => `neigh del ${this.address(to)} dev eth0`);
      // -force: one entry already gone (a namespace re-made) must not keep the others.
      run('ip', ['-force', '-n', this.namespace(from), '-batch', '-'], `${lines.join('\n')}\n`);
    }
    this.#cuts.clear();
  }

  /**
   * IP packets the sink has dropped: what the cut links dropped. (Its IpExt InOctets would give
   * bytes but also count the odd IGMP report the bridge sends every port; InAddrErrors counts
   * only packets for an address that is not the sink's, which is exactly the cut traffic.)
   */
  droppedPackets(): number {
    if (this.#closed) return this.#droppedAtClose;
    const result = run('nsenter', [`--net=/run/netns/${this.bridge}s`, 'cat', '/proc/net/snmp']);
    if (!result.ok) return 0;
    const lines = result.stdout.split('\n').filter((line) => line.startsWith('Ip:'));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const at = names.indexOf('InAddrErrors');
    return at < 0 ? 0 : Number(values[at] ?? 0);
  }

  dropped(): PeerDrops {
    return { count: this.droppedPackets(), unit: 'packets' };
  }

  /** Removes the namespaces and the bridge; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#droppedAtClose = this.droppedPackets();
    this.#closed = true;
    this.#cuts.clear();
    removeNetwork(this.bridge);
    this.#unregister();
  }

  #check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#count) {
      throw new TestkitError('BAD_OPTION', `no node ${index} in a network of ${this.#count}`);
    }
  }
}
