// Helpers for the multi-process tests: free ports, node processes run from source through tsx,
// bounded polling (never sleeps as synchronisation), and cleanup that kills every child. Other
// apps' tests (the demo's) import them as `@distsync/node/testing`: an export with only the
// `@distsync/source` condition, so it resolves in tests and tsx and is never built or shipped.
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_PATH = join(APP_DIR, 'src', 'cli.ts');
export const SECRET = 'test-secret-0123456789abcdef';

/** A port that was free a moment ago (bind 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** Whether a loopback port can be bound (so nothing listens on it any more). */
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

/** A base port with `count` consecutive free ports (for `cluster up --base-port`). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = await freePort();
    if (base + count > 65535) continue;
    let free = true;
    for (let offset = 1; offset < count && free; offset += 1) {
      free = await portIsFree(base + offset);
    }
    if (free) return base;
  }
  throw new Error('no range of free ports found');
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `distsync-${prefix}-`));
}

export function removeDir(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** A running CLI process with its output collected. */
export interface CliProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
}

const children = new Set<ChildProcess>();

/** Runs `distsync <args>` from source (tsx, the @distsync/source condition). */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  return runFromSource({
    script: CLI_PATH,
    args,
    cwd: APP_DIR,
    env: { ...process.env, ...env },
    stdin: 'ignore',
    tracked: children,
  });
}

/**
 * Runs a TypeScript entry point from source (tsx, the @distsync/source condition) with its
 * stdout and stderr collected; it stays in `tracked` until it exits, for the caller's cleanup.
 */
export function runFromSource(input: {
  script: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** `pipe`: a stdin the test may write to (not a terminal); `ignore`: none. */
  stdin: 'ignore' | 'pipe';
  tracked: Set<ChildProcess>;
}): CliProcess {
  const { tracked } = input;
  // spawn's overloads tell a piped stdin from an ignored one only for literal types; stdout and
  // stderr are pipes either way.
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions', '@distsync/source', input.script, ...input.args],
    { cwd: input.cwd, env: input.env, stdio: [input.stdin, 'pipe', 'pipe'] },
  ) as ChildProcessByStdio<Writable | null, Readable, Readable>;
  tracked.add(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      tracked.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, output: () => output, exited };
}

/** SIGKILLs every child still running (afterEach/afterAll, also after a failure). */
export async function killAllChildren(): Promise<void> {
  const running = [...children];
  for (const child of running) {
    if (child.signalCode === 'SIGSTOP' || child.exitCode === null) child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode === 'SIGKILL') resolve();
          else
            child.once('exit', () => {
              resolve();
            });
        }),
    ),
  );
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = options.detail === undefined ? '' : `; last seen: ${options.detail()}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
}

export async function http(
  url: string,
  init: { method?: string; body?: unknown; raw?: string; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
    signal: AbortSignal.timeout(init.timeoutMs ?? 5000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, body: parsed };
}

/** The fields of /status the tests read. */
export interface StatusBody {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly ready: boolean;
  readonly peers: readonly { id: string; connection: string }[];
}

export async function statusOf(url: string): Promise<StatusBody | undefined> {
  try {
    const answer = await http(`${url}/status`, { timeoutMs: 1000 });
    return answer.status === 200 ? (answer.body as StatusBody) : undefined;
  } catch {
    return undefined;
  }
}
