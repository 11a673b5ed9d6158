// The menu driven through its prompts, as a person at a terminal would: the demo starts its
// embedded cluster, the menu lists the scenarios, arrow keys and Enter pick "Cluster status",
// its checked output appears, the menu comes back, and picking Exit stops every node and
// resolves with 0. Ctrl-C at the menu leaves the same clean way.
import { existsSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runDemo } from '@distsync/demo';
import { announced, plain, portIsFree, waitFor } from './test-support/processes.js';

const KEY_DOWN = '\u001b[B';
const KEY_UP = '\u001b[A';
const KEY_ENTER = '\r';
const KEY_CTRL_C = '\u0003';
const PROMPT = 'What would you like to see?';

const aborts: AbortController[] = [];
afterEach(() => {
  // A failed test must not leave its cluster running: aborting ends the demo, which stops it.
  for (const controller of aborts.splice(0)) controller.abort();
});

function startMenu(): {
  keys: (text: string) => void;
  screen: () => string;
  done: Promise<number>;
} {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const controller = new AbortController();
  aborts.push(controller);
  const done = runDemo({
    input,
    output,
    color: false,
    embedded: { basePort: 0 },
    signal: controller.signal,
  });
  return { keys: (keys) => input.write(keys), screen: () => plain(text), done };
}

/** Waits until the prompt has been drawn `count` times (each menu round draws it anew). */
async function promptShown(menu: ReturnType<typeof startMenu>, count: number): Promise<void> {
  await waitFor(
    `menu prompt #${count}`,
    () => (menu.screen().split(`? ${PROMPT}`).length - 1 >= count ? true : undefined),
    { timeoutMs: 200_000, detail: () => menu.screen() },
  );
}

async function expectStopped(screen: string): Promise<void> {
  const { ports, dataDir } = announced(screen);
  expect(ports).toHaveLength(3);
  expect(await Promise.all(ports.map(portIsFree))).toEqual([true, true, true]);
  expect(existsSync(dataDir ?? '')).toBe(false);
}

describe('distsync-demo menu', () => {
  it('runs the scenario chosen with the arrow keys, comes back to the menu, and Exit stops every node', async () => {
    const menu = startMenu();
    await promptShown(menu, 1);
    expect(menu.screen()).toMatch(/1\. Locks[\s\S]*\d\. Raft[\s\S]*\d\. Cluster status[\s\S]*Exit/);
    const position = Number(/(\d+)\. Cluster status/.exec(menu.screen())?.[1]);
    for (let press = 1; press < position; press += 1) menu.keys(KEY_DOWN);
    menu.keys(KEY_ENTER);
    await waitFor(
      'the status scenario to finish',
      () => (/one leader, n\d \(term \d+\)/.test(menu.screen()) ? true : undefined),
      { timeoutMs: 60_000, detail: () => menu.screen() },
    );
    expect(menu.screen()).toContain('━━ Cluster status');
    expect(menu.screen()).toContain('✔ 3 of 3 nodes answer /status');
    expect(menu.screen()).not.toContain('━━ Raft');
    await promptShown(menu, 2);
    // Past the last entry the cursor stays on it (no wrap-around): that is Exit.
    for (let press = 0; press < 12; press += 1) menu.keys(KEY_DOWN);
    menu.keys(KEY_UP);
    menu.keys(KEY_DOWN);
    menu.keys(KEY_ENTER);
    expect(await menu.done).toBe(0);
    expect(menu.screen()).toContain('stopping every node');
    await expectStopped(menu.screen());
  });

  it('leaves on Ctrl-C at the menu, stopping every node', async () => {
    const menu = startMenu();
    await promptShown(menu, 1);
    menu.keys(KEY_CTRL_C);
    expect(await menu.done).toBe(0);
    await expectStopped(menu.screen());
  });
});
