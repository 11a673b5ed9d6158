// Child processes a campaign starts (cluster nodes), each the leader of its own process group,
// with cleanup that runs however the campaign ends: normal exit, a thrown error, SIGINT or
// SIGTERM, and (through a small watchdog process that holds the list too) even SIGKILL.
// tooling/bench's harness uses it too.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StartProcessOptions {
  /** A short name for logs and errors (`n2`). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr are appended to this file. */
  readonly logFile: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | string>;
  isAlive(): boolean;
}

/**
 * Reads `+pid N`, `+net B`, `+dir P` lines (and `-...` to forget one); when stdin closes (the
 * campaign ended in any way) it SIGCONTs and SIGKILLs the groups, removes the namespace
 * networks (see netns.ts: bridge B, namespaces Bn1.. and Bs) and the dirs still listed.
 */
const WATCHDOG_SCRIPT = `
const sets = { pid: new Set(), net: new Set(), dir: new Set() }; let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  for (let at = buffer.indexOf('\\n'); at >= 0; at = buffer.indexOf('\\n')) {
    const line = buffer.slice(0, at); buffer = buffer.slice(at + 1);
    const set = sets[line.slice(1, 4)]; const value = line.slice(5);
    if (set === undefined) continue;
    if (line[0] === '+') set.add(value); else set.delete(value);
  }
});
process.stdin.on('end', () => {
  const { spawnSync } = require('node:child_process');
  for (const pid of sets.pid) { try { process.kill(-Number(pid), 'SIGCONT'); process.kill(-Number(pid), 'SIGKILL'); } catch {} }
  for (const bridge of sets.net) {
    const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout || '';
    for (const line of listed.split('\\n')) {
      const name = line.split(' ')[0];
      if (name.startsWith(bridge + 'n') || name === bridge + 's') spawnSync('ip', ['netns', 'del', name]);
    }
    spawnSync('ip', ['link', 'del', bridge]);
  }
  for (const dir of sets.dir) { try { require('node:fs').rmSync(dir, { recursive: true, force: true }); } catch {} }
  process.exit(0);
});`;

let watchdog: ChildProcess | undefined;

function tellWatchdog(line: string): void {
  if (watchdog === undefined) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG_SCRIPT], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.unref();
    (watchdog.stdin as Socket | null)?.unref();
    watchdog.stdin?.on('error', () => undefined);
  }
  watchdog.stdin?.write(`${line}\n`);
}

interface Entry {
  readonly process: ManagedProcess;
  alive: boolean;
}

const running = new Map<number, Entry>();
const tempDirs = new Set<string>();
/** Namespace networks (netns.ts) by bridge name, with their synchronous removal. */
const networks = new Map<string, () => void>();
let exitHandlerInstalled = false;
let signalHandlersInstalled = false;

/** Sends `signal` to the whole process group led by `pid`; false when it is already gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Kills every process started here and removes the temp dirs; synchronous, for 'exit'. */
export function cleanupAll(): void {
  for (const entry of running.values()) {
    if (entry.alive) {
      signalGroup(entry.process.pid, 'SIGCONT');
      signalGroup(entry.process.pid, 'SIGKILL');
    }
    tellWatchdog(`-pid ${entry.process.pid}`);
  }
  running.clear();
  for (const [bridge, remove] of networks) {
    remove();
    tellWatchdog(`-net ${bridge}`);
  }
  networks.clear();
  for (const dir of tempDirs) {
    rmSync(dir, { recursive: true, force: true });
    tellWatchdog(`-dir ${dir}`);
  }
  tempDirs.clear();
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', cleanupAll);
}

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * The given signals (default SIGINT and SIGTERM) clean up and exit with 128 + the signal
 * number, as a shell would report it; with `announce`, a line `SIGINT: <announce>` goes to
 * stderr first. The CLI takes SIGTERM only: its first Ctrl-C ends the campaign gracefully.
 * Library users (and test runners) keep their own handlers: only the exit handler is automatic.
 */
export function installSignalHandlers(
  signals: readonly (keyof typeof SIGNAL_NUMBERS)[] = ['SIGINT', 'SIGTERM'],
  announce?: string,
): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  installExitHandler();
  for (const signal of signals) {
    process.on(signal, () => {
      if (announce !== undefined) process.stderr.write(`\n${signal}: ${announce}\n`);
      cleanupAll();
      process.exit(128 + SIGNAL_NUMBERS[signal]);
    });
  }
}

/**
 * Registers a namespace network (its bridge's name) for removal at cleanup, by `remove` here
 * or by the watchdog if this process is killed. Returns the unregister function.
 */
export function registerNetwork(bridge: string, remove: () => void): () => void {
  installExitHandler();
  networks.set(bridge, remove);
  tellWatchdog(`+net ${bridge}`);
  return () => {
    networks.delete(bridge);
    tellWatchdog(`-net ${bridge}`);
  };
}

/** A fresh temp dir (`<tmp>/distsync-<tool>-<prefix>-XXXXXX`), removed at cleanup. */
export function makeTempDir(prefix: string, tool = 'testkit'): string {
  installExitHandler();
  const dir = mkdtempSync(join(tmpdir(), `distsync-${tool}-${prefix}-`));
  tempDirs.add(dir);
  tellWatchdog(`+dir ${dir}`);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
  tellWatchdog(`-dir ${dir}`);
}

/** Starts a process as the leader of its own process group, so a signal reaches its children. */
export function startProcess(options: StartProcessOptions): ManagedProcess {
  installExitHandler();
  const logFd = openSync(options.logFile, 'a');
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name}: spawn of ${options.command} failed`);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      const entry = running.get(pid);
      if (entry !== undefined) entry.alive = false;
      running.delete(pid);
      signalGroup(pid, 'SIGKILL');
      tellWatchdog(`-pid ${pid}`);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (error) => {
      running.delete(pid);
      resolve(String(error));
    });
  });
  const managed: ManagedProcess = {
    name: options.name,
    pid,
    logFile: options.logFile,
    exited,
    isAlive: () => running.get(pid)?.alive === true,
  };
  running.set(pid, { process: managed, alive: true });
  tellWatchdog(`+pid ${pid}`);
  return managed;
}

/** kill -9 of the process group (continued first if paused); resolves once it has exited. */
export async function killHard(target: ManagedProcess): Promise<void> {
  signalGroup(target.pid, 'SIGKILL');
  signalGroup(target.pid, 'SIGCONT');
  await target.exited;
}

/** SIGTERM, then SIGKILL after `graceMs` if the process is still there. */
export async function stopGracefully(target: ManagedProcess, graceMs = 3000): Promise<void> {
  if (!target.isAlive()) return;
  signalGroup(target.pid, 'SIGCONT');
  signalGroup(target.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout');
    }, graceMs);
  });
  const outcome = await Promise.race([target.exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') await killHard(target);
}

/** The last `lines` lines of a log file (or a process's), for error messages. */
export function logTail(from: string | { readonly logFile: string }, lines = 15): string {
  try {
    return readFileSync(typeof from === 'string' ? from : from.logFile, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/** Processes still running (tests check cleanup with it). */
export function runningProcessCount(): number {
  return running.size;
}
