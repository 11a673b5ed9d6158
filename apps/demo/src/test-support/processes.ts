// Helpers for the demo's tests: the demo CLI run from source (tsx, the @distsync/source
// condition) as a real process, and cleanup that stops every demo left. Ports and bounded
// polling are the node's test helpers (`@distsync/node/testing`).
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFromSource, type CliProcess } from '@distsync/node/testing';

export { freePort, portIsFree, waitFor } from '@distsync/node/testing';

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI_PATH = join(APP_DIR, 'src', 'cli.ts');

export type DemoProcess = CliProcess;

const children = new Set<ChildProcess>();

/** Runs `distsync-demo <args>` from source with stdin a pipe (not a terminal). */
export function runDemoCli(args: readonly string[]): DemoProcess {
  return runFromSource({
    script: CLI_PATH,
    args,
    cwd: APP_DIR,
    env: { ...process.env, NO_COLOR: '1' },
    stdin: 'pipe',
    tracked: children,
  });
}

/** SIGINTs every demo still running (its exit handler kills its nodes); SIGKILL after 20 s. */
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
