// Child processes the bench starts (cluster nodes), each in its own process group, with
// cleanup that runs however the bench ends: normal exit, a thrown error, SIGINT or SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StartProcessOptions {
  /** A short name for logs and errors (`etcd e1`, `distsync n2`). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr go to this file (appended), so a failed start can show its tail. */
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

interface Entry {
  readonly process: ManagedProcess;
  readonly child: ChildProcess;
  alive: boolean;
}

/**
 * The watchdog: a small detached process that reads `+pid N`, `-pid N`, `+dir P`, `-dir P`
 * lines on stdin and, when stdin closes (the bench ended in any way, even by SIGKILL, as tsx
 * does to a child that is slow to answer a Ctrl-C), kills the process groups and removes the
 * dirs still listed. Signal handlers alone cannot promise that.
 */
const WATCHDOG_SCRIPT = `
const groups = new Set(); const dirs = new Set(); let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  for (let at = buffer.indexOf('\\n'); at >= 0; at = buffer.indexOf('\\n')) {
    const line = buffer.slice(0, at); buffer = buffer.slice(at + 1);
    const set = line.slice(1, 4) === 'pid' ? groups : dirs; const value = line.slice(5);
    if (line[0] === '+') set.add(value); else set.delete(value);
  }
});
process.stdin.on('end', () => {
  for (const pid of groups) { try { process.kill(-Number(pid), 'SIGKILL'); } catch {} }
  for (const dir of dirs) { try { require('node:fs').rmSync(dir, { recursive: true, force: true }); } catch {} }
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

const running = new Map<number, Entry>();
const tempDirs = new Set<string>();
let handlersInstalled = false;
let exitHandlerInstalled = false;

/** Sends `signal` to the whole process group led by `pid`; false when it is already gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Kills every process this bench started and removes its temp dirs; synchronous for 'exit'. */
export function cleanupAll(): void {
  for (const entry of running.values()) {
    if (entry.alive) signalGroup(entry.process.pid, 'SIGKILL');
    tellWatchdog(`-pid ${entry.process.pid}`);
  }
  running.clear();
  for (const dir of tempDirs) {
    rmSync(dir, { recursive: true, force: true });
    tellWatchdog(`-dir ${dir}`);
  }
  tempDirs.clear();
}

/**
 * Installs the exit, SIGINT and SIGTERM handlers once. After a signal the bench exits with
 * 128 + signal number, as a shell would report it.
 */
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  installExitHandler();
  for (const [signal, number] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
  ] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: stopping every process the bench started\n`);
      cleanupAll();
      process.exit(128 + number);
    });
  }
}

/**
 * Kills what is left when the process exits. Every start installs it; the signal handlers
 * come from the CLI alone, so a library user (or a test runner) keeps its own.
 */
function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', cleanupAll);
}

/** A fresh temp dir under the OS temp folder, removed at cleanup. */
export function makeTempDir(prefix: string): string {
  installExitHandler();
  const dir = mkdtempSync(join(tmpdir(), `distsync-bench-${prefix}-`));
  tempDirs.add(dir);
  tellWatchdog(`+dir ${dir}`);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
  tellWatchdog(`-dir ${dir}`);
}

/** Starts a process as the leader of its own process group, so a kill reaches its children. */
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
      // Children that outlived their group leader go with it; then the watchdog forgets it.
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
  running.set(pid, { process: managed, child, alive: true });
  tellWatchdog(`+pid ${pid}`);
  return managed;
}

/** kill -9 of the process group; resolves once the leader has exited. */
export async function killHard(target: ManagedProcess): Promise<void> {
  signalGroup(target.pid, 'SIGKILL');
  await target.exited;
}

/** SIGTERM, then SIGKILL after `graceMs` if the process group leader is still there. */
export async function stopGracefully(target: ManagedProcess, graceMs = 5000): Promise<void> {
  if (!target.isAlive()) return;
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
  // Children that outlived their leader (none expected) go too.
  signalGroup(target.pid, 'SIGKILL');
}

/** The last `lines` lines of a process's log, for error messages. */
export function logTail(target: ManagedProcess, lines = 15): string {
  try {
    return readFileSync(target.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The processes still running, for tests of the cleanup itself. */
export function runningProcessCount(): number {
  return running.size;
}
