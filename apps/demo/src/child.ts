// Client processes the scenarios start (a lock holder to kill): from the sources through tsx when
// the demo runs from its sources, else the built file beside this one.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export function spawnScript(
  script: 'holder',
  input: { args: readonly string[]; token: string | undefined },
): ChildProcess {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(`./${script}.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  const prefix = fromSource ? ['--import', 'tsx', '--conditions', '@distsync/source'] : [];
  return spawn(process.execPath, [...prefix, file, ...input.args], {
    cwd: dirname(file),
    stdio: ['ignore', 'pipe', 'pipe'],
    // The token travels in the environment, not on a command line other users can read.
    env: {
      ...process.env,
      ...(input.token === undefined ? {} : { DISTSYNC_TOKEN: input.token }),
    },
  });
}

/** The first line the child prints, parsed as JSON; rejects when it exits first or times out. */
export function firstJsonLine(child: ChildProcess, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    let errors = '';
    const timer = setTimeout(() => {
      reject(new Error(`no answer from the child process within ${timeoutMs} ms ${errors}`));
    }, timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf('\n');
      if (end < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text.slice(0, end)));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the child process exited (${signal ?? `code ${code}`}): ${errors}`));
    });
  });
}
