// The namespace network on real namespaces (root only, as on CI): reachability, silent directed
// cuts, the sink's count, heal, and removal by close, by the watchdog after a SIGKILL and by
// the next harness's sweep. Without root, only the refusal can be tested, so that runs instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NetnsNetwork, netnsSupport, resolveNetwork, TestkitError } from '@distsync/testkit';

const supported = netnsSupport().ok;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function namespaces(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

function linkExists(name: string): boolean {
  return spawnSync('ip', ['link', 'show', name]).status === 0;
}

/** Waits (bounded) for a condition that an external process makes true. */
async function until(check: () => boolean, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i += 1) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const UDP_PORT = 9077;
/** Inside a namespace: prints `ready`, then `from text` per datagram; stdin `ip text` sends. */
const PEER_SCRIPT = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (message, from) => console.log(from.address + ' ' + message.toString()));
socket.bind(${UDP_PORT}, () => console.log('ready'));
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [ip, text] = line.split(' ');
  socket.send(text, ${UDP_PORT}, ip);
});`;

interface Peer {
  readonly child: ChildProcess;
  readonly lines: string[];
  send(ip: string, text: string): void;
}

async function startPeer(network: NetnsNetwork, index: number): Promise<Peer> {
  const line = network.wrap(index, process.execPath, ['-e', PEER_SCRIPT]);
  const child = spawn(line.command, line.args, { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => lines.push(text));
  await until(() => lines.includes('ready'), `peer ${index} ready`);
  return {
    child,
    lines,
    send: (ip, text) => child.stdin.write(`${ip} ${text}\n`),
  };
}

describe.runIf(supported)('NetnsNetwork (as root)', () => {
  it('connects every namespace; a cut drops one direction silently, the sink counts it, heal restores it', async () => {
    const network = NetnsNetwork.create(3);
    cleanups.push(() => {
      network.close();
    });
    expect(network.subnet).toMatch(/^10\.213\.\d+\.0\/24$/);
    const peers = await Promise.all([0, 1, 2].map((index) => startPeer(network, index)));
    const [a, b, c] = peers as [Peer, Peer, Peer];
    const [ipA, ipB, ipC] = [0, 1, 2].map((index) => network.address(index)) as [
      string,
      string,
      string,
    ];

    a.send(ipB, 'before');
    await until(() => b.lines.includes(`${ipA} before`), 'a -> b before the cut');
    expect(network.droppedPackets()).toBe(0);

    network.cut(0, 1);
    expect(network.cuts()).toEqual([[0, 1]]);
    a.send(ipB, 'lost');
    // The other direction and the other peers still work while a -> b is cut.
    b.send(ipA, 'reverse');
    a.send(ipC, 'side');
    await until(() => a.lines.includes(`${ipB} reverse`), 'b -> a during the cut');
    await until(() => c.lines.includes(`${ipA} side`), 'a -> c during the cut');
    await until(() => network.droppedPackets() === 1, 'the sink to count the lost datagram');

    network.heal();
    expect(network.cuts()).toEqual([]);
    a.send(ipB, 'after');
    await until(() => b.lines.includes(`${ipA} after`), 'a -> b after the heal');
    // Datagrams are not queued across a partition: the one sent during the cut is gone.
    expect(b.lines).not.toContain(`${ipA} lost`);

    for (const peer of peers) peer.child.kill('SIGKILL');
    const names = [0, 1, 2].map((index) => network.namespace(index));
    network.close();
    expect(namespaces().filter((name) => names.includes(name))).toEqual([]);
    expect(linkExists(network.bridge)).toBe(false);
  });

  it('rejects a node outside the network and a bad size with BAD_OPTION', () => {
    const network = NetnsNetwork.create(2);
    cleanups.push(() => {
      network.close();
    });
    expect(() => {
      network.cut(0, 2);
    }).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    expect(() => {
      network.cut(-1, 0);
    }).toThrow(TestkitError);
    expect(() => NetnsNetwork.create(0)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    expect(() => NetnsNetwork.create(10)).toThrow(/1 to 9/);
  });

  it("is removed by the watchdog when its harness is killed, and a dead owner's leftovers by the next sweep", async () => {
    // A harness that builds a network and is then SIGKILLed (no exit handler runs).
    const script = `
      import { NetnsNetwork } from '@distsync/testkit';
      const network = NetnsNetwork.create(2);
      console.log(network.bridge);
      setInterval(() => undefined, 1000);`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions', '@distsync/source', '--input-type=module', '-e', script],
      // From the testkit's folder, where `@distsync/testkit` resolves (the suite runs from the root).
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    cleanups.push(() => child.kill('SIGKILL'));
    const bridge = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => {
        reject(new Error(`harness exited ${code}`));
      });
    });
    expect(linkExists(bridge)).toBe(true);
    expect(namespaces()).toContain(`${bridge}n1`);
    child.kill('SIGKILL');
    await until(() => !linkExists(bridge) && !namespaces().includes(`${bridge}n1`), 'the watchdog');

    // Leftovers whose owner is gone (no watchdog either): the next create sweeps them.
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {
      encoding: 'utf8',
    });
    const stale = 'dsk251';
    spawnSync('ip', ['link', 'add', stale, 'type', 'bridge']);
    spawnSync('ip', ['link', 'set', stale, 'alias', `distsync-testkit pid=${dead.stdout.trim()}`]);
    spawnSync('ip', ['netns', 'add', `${stale}n1`]);
    cleanups.push(() => {
      spawnSync('ip', ['netns', 'del', `${stale}n1`]);
      spawnSync('ip', ['link', 'del', stale]);
    });
    const network = NetnsNetwork.create(1);
    cleanups.push(() => {
      network.close();
    });
    expect(linkExists(stale)).toBe(false);
    expect(namespaces()).not.toContain(`${stale}n1`);
  }, 60_000);

  it('takes over a lock file left by a holder that died, with or without its pid written', async () => {
    const lock = join(tmpdir(), 'distsync-testkit-netns.lock');
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {
      encoding: 'utf8',
    });
    cleanups.push(() => {
      rmSync(lock, { force: true });
    });
    for (const content of [dead.stdout.trim(), '']) {
      // The real lock: another test's harness may hold it for a moment; wait for our turn.
      await until(() => {
        try {
          writeFileSync(lock, content, { flag: 'wx' });
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          return false;
        }
      }, 'the lock file to be free');
      // An empty file is taken over only once it is old: this one is 10 s old.
      const old = new Date(Date.now() - 10_000);
      utimesSync(lock, old, old);
      // Without the takeover this waits 15 s for the lock and throws START_TIMEOUT.
      expect(() => {
        NetnsNetwork.create(1).close();
      }).not.toThrow();
    }
  });

  it('is what auto resolves to here, and the environment can force the proxy', () => {
    expect(resolveNetwork('auto')).toBe('netns');
    expect(resolveNetwork('proxy')).toBe('proxy');
    expect(() => resolveNetwork('wifi' as 'auto')).toThrow(
      expect.objectContaining({ code: 'BAD_OPTION' }),
    );
  });
});

describe.runIf(!supported)('NetnsNetwork (without root)', () => {
  it('refuses with BAD_OPTION and the reason, and auto falls back to the proxy', () => {
    expect(() => NetnsNetwork.create(3)).toThrow(/network namespaces unavailable/);
    expect(resolveNetwork('auto')).toBe('proxy');
  });
});
