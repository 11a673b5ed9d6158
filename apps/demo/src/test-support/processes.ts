// Helpers for the demo's tests: the demo CLI run from source (tsx, the @distsync/source
// condition) as a real process, bounded polling, and cleanup that kills every child left.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI_PATH = join(APP_DIR, 'src', 'cli.ts');

export interface DemoProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
}

const children = new Set<ChildProcess>();

/** Runs `distsync-demo <args>` from source with stdin a pipe (not a terminal). */
export function runDemoCli(args: readonly string[]): DemoProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions', '@distsync/source', CLI_PATH, ...args],
    { cwd: APP_DIR, env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.add(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, output: () => output, exited };
}

/** SIGKILLs every demo process still running (its exit handler kills its nodes). */
export async function killAllDemos(): Promise<void> {
  const running = [...children];
  for (const child of running) child.kill('SIGINT');
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
          child.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
        }),
    ),
  );
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  options: { timeoutMs?: number; detail?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) {
      const detail = options.detail === undefined ? '' : `; last seen:\n${options.detail()}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A loopback port that was free a moment ago (bind 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

/** Whether a loopback port can be bound (so no node listens on it any more). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/** The node ports and the data folder a demo announced in its first lines. */
export function announced(output: string): { ports: number[]; dataDir: string | undefined } {
  const line = /starting \d+ distsync nodes: (.*)/.exec(output)?.[1] ?? '';
  const ports = [...line.matchAll(/127\.0\.0\.1:(\d+)/g)].map((match) => Number(match[1]));
  const dataDir = /data and logs in (\S+)/.exec(output)?.[1];
  return { ports, dataDir };
}

/** Removes ANSI escape sequences (the prompts draw with them even without colours). */
export function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
}
