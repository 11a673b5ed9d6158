// Facts about the machine a run happened on, printed above every table and stored with the
// results: figures from different machines are not comparable, and a busy machine shows here.
import { spawnSync } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MachineFacts {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  /** Load averages (1, 5, 15 min) when the run started: other work competes for the cores. */
  readonly loadAverage: readonly number[];
  readonly disk: DiskFacts;
  readonly versions: Readonly<Record<string, string>>;
}

export interface DiskFacts {
  /** The folder the clusters keep their data in. */
  readonly path: string;
  readonly device: string;
  /** As the kernel reports it; virtual disks often claim rotational whatever backs them. */
  readonly kind: 'ssd' | 'rotational' | 'unknown';
  readonly freeGiB: number;
}

const GIB = 1024 ** 3;

/** The first line a command prints, or `not installed` when it cannot run. */
export function commandVersion(command: string, args: readonly string[]): string {
  const result = spawnSync(command, [...args], { encoding: 'utf8', timeout: 5000 });
  if (result.error !== undefined || result.status !== 0) return 'not installed';
  const line = `${result.stdout}${result.stderr}`.trim().split('\n')[0];
  return line === undefined || line === '' ? 'unknown' : line.trim();
}

/** The git commit the bench runs from (the nodes are built from the same tree). */
function distsyncVersion(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const commit = spawnSync('git', ['-C', here, 'rev-parse', '--short', 'HEAD'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  const dirty = spawnSync('git', ['-C', here, 'status', '--porcelain', '--untracked-files=no'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  if (commit.status !== 0) return 'unknown';
  return `${commit.stdout.trim()}${dirty.stdout.trim() === '' ? '' : ' (uncommitted changes)'}`;
}

/** The client libraries the suites use, as installed for the bench (left out when absent). */
export const CLIENT_LIBRARIES: readonly string[] = [
  'etcd3',
  'ioredis',
  'bullmq',
  'redlock',
  'amqplib',
  'nats',
  'undici',
];

function clientLibraryVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const versions: Record<string, string> = {};
  for (const name of CLIENT_LIBRARIES) {
    try {
      const manifest = require(`${name}/package.json`) as { version?: unknown };
      if (typeof manifest.version === 'string') versions[`${name} (npm)`] = manifest.version;
    } catch {
      // not a dependency of the bench (yet)
    }
  }
  return versions;
}

function diskFacts(path: string): DiskFacts {
  const stats = statfsSync(path);
  const freeGiB = (stats.bavail * stats.bsize) / GIB;
  const source = spawnSync('findmnt', ['-no', 'SOURCE', '--target', path], { encoding: 'utf8' });
  const device = source.status === 0 ? source.stdout.trim() : 'unknown';
  let kind: DiskFacts['kind'] = 'unknown';
  try {
    // /dev/vda1 -> vda; /dev/nvme0n1p2 -> nvme0n1 (the queue lives on the whole disk).
    const name = basename(device).replace(/p?\d+$/, '');
    const rotational = readFileSync(`/sys/block/${name}/queue/rotational`, 'utf8').trim();
    kind = rotational === '0' ? 'ssd' : 'rotational';
  } catch {
    kind = 'unknown';
  }
  return { path, device, kind, freeGiB: Math.round(freeGiB * 10) / 10 };
}

export function machineFacts(dataPath: string = tmpdir()): MachineFacts {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / GIB) * 10) / 10,
    kernel: release(),
    loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
    disk: diskFacts(dataPath),
    versions: {
      node: process.version,
      distsync: distsyncVersion(),
      etcd: commandVersion('etcd', ['--version']),
      redis: commandVersion('redis-server', ['--version']),
      'nats-server': commandVersion('nats-server', ['--version']),
      'rabbitmq-server': commandVersion('dpkg-query', ['-W', '-f=${Version}', 'rabbitmq-server']),
      ...clientLibraryVersions(),
    },
  };
}

/** The facts as markdown bullet lines. */
export function formatMachineFacts(facts: MachineFacts): string {
  const versions = Object.entries(facts.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join('; ');
  return [
    `- CPU: ${facts.cpuModel}, ${facts.cores} cores; memory ${facts.memoryGiB} GiB; kernel ${facts.kernel}`,
    `- load average at start: ${facts.loadAverage.join(' / ')} (1 / 5 / 15 min)`,
    `- disk: ${facts.disk.device} (${facts.disk.kind} as the kernel reports it), ` +
      `${facts.disk.freeGiB} GiB free under ${facts.disk.path}`,
    `- versions: ${versions}`,
  ].join('\n');
}
