// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against three
// real node processes that need a client token: the page asks for the token, shows three nodes
// and one leader, a held lock with its fencing token, a queue's depth and each node's cache,
// hands the lead to its own node through its action, and when that node (the
// leader, the one serving the page) is killed, follows the cluster to a peer and shows the new
// leader within seconds. Every wait is on the DOM; screenshots go to results/ui-e2e/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TestCluster } from './test-support/cluster.js';
import { APP_DIR, killAllChildren, removeDir, tempDir, waitFor } from './test-support/processes.js';
import { ensureUiBuilt, requireChromium } from './test-support/ui.js';

const TOKEN = 'browser-test-token';
const OUTPUT_DIR = join(APP_DIR, 'results', 'ui-e2e');

let dir: string | undefined;
let cluster: TestCluster;
let browser: Browser | undefined;
let page: Page;
/** Set when there is no Chromium: every test then fails with what to install (never skips). */
let chromiumMissing: Error | undefined;

beforeAll(async () => {
  let executablePath: string;
  try {
    executablePath = requireChromium();
  } catch (error) {
    chromiumMissing = error instanceof Error ? error : new Error(String(error));
    return;
  }
  ensureUiBuilt();
  mkdirSync(OUTPUT_DIR, { recursive: true });
  dir = tempDir('ui-e2e');
  cluster = await TestCluster.create(dir, 3, { DISTSYNC_TOKEN: TOKEN });
  cluster.startAll();
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
}, 120_000);

beforeEach(() => {
  if (chromiumMissing !== undefined) throw chromiumMissing;
});

afterEach(async (context) => {
  if (context.task.result?.state !== 'fail' || chromiumMissing !== undefined) return;
  await page
    .screenshot({ path: join(OUTPUT_DIR, 'failure.png'), fullPage: true })
    .catch(() => undefined);
  for (const member of cluster.members) {
    const lines = (member.process?.output() ?? '').trim().split('\n').slice(-10);
    console.log(`--- ${member.id} (last log lines)\n${lines.join('\n')}`);
  }
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await killAllChildren();
  if (dir !== undefined) removeDir(dir);
});

const NODE_ROWS = '[data-testid="nodes"] tbody tr';

/**
 * Waits until the page shows one leader, `expected` or any but `not`, in the nodes table and in
 * the header, and answers its id.
 */
async function pageLeader(
  options: { expected: string } | { not: string },
  timeoutMs: number,
): Promise<string> {
  const row =
    'expected' in options
      ? `${NODE_ROWS}[data-role="leader"][data-node="${options.expected}"]`
      : `${NODE_ROWS}[data-role="leader"]:not([data-node="${options.not}"])`;
  await page.locator(row).waitFor({ timeout: timeoutMs });
  const id = (await page.locator(row).getAttribute('data-node')) ?? '';
  await page
    .getByTestId('leader')
    .filter({ hasText: new RegExp(`^${id}$`) })
    .waitFor({ timeout: timeoutMs });
  expect(await page.locator(`${NODE_ROWS}[data-role="leader"]`).count()).toBe(1);
  return id;
}

describe('the /ui dashboard in Chromium', () => {
  // Three tsx processes start first: a loaded machine may take a while.
  it(
    'asks for the token, then shows three nodes and exactly one leader',
    { timeout: 150_000 },
    async () => {
      const leader = await cluster.waitForLeader({ timeoutMs: 120_000 });
      // A majority agrees on the leader; wait for the third node too, so every row is live.
      await waitFor(
        'all three nodes to follow the leader',
        async () => {
          const statuses = await cluster.statuses();
          return statuses.length === 3 && statuses.every((status) => status.leader === leader.id)
            ? true
            : undefined;
        },
        { timeoutMs: 60_000 },
      );
      const follower = cluster.members.find((member) => member.id !== leader.id)!;
      await page.goto(`${follower.url}/ui`);
      // Without the token the data stream is refused and the page asks for it.
      await page.waitForSelector('[data-testid="token-form"]:not([hidden])', { timeout: 10_000 });
      expect(await page.getAttribute('[data-testid="stream-state"]', 'data-state')).toBe(
        'unauthorized',
      );
      await page.fill('[data-testid="token-input"]', TOKEN);
      await page.click('[data-testid="token-form"] button');
      await page.locator(`${NODE_ROWS}:nth-child(3)`).waitFor({ timeout: 10_000 });
      const shown = await pageLeader({ expected: leader.id }, 10_000);
      expect(shown).toBe(leader.id);
      const ids = await Promise.all(
        (await page.locator(NODE_ROWS).all()).map((row) => row.getAttribute('data-node')),
      );
      expect(ids).toEqual(['n1', 'n2', 'n3']);
      expect(await page.locator(`${NODE_ROWS}[data-role="follower"]`).count()).toBe(2);
      expect(await page.textContent('[data-testid="status-table"]')).toContain('ROLE');
    },
  );

  it("shows a held lock with its fencing token, a queue with its depth and every node's cache", async () => {
    const base = cluster.members[0]!.url;
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(8000),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as Record<string, unknown>;
    };
    const { sessionId } = await post('/v1/sessions', { ttlMs: 120_000 });
    const { token } = await post('/v1/locks/e2e-lock/acquire', { sessionId });
    await post('/v1/queues/e2e-queue/messages', { body: 'one' });
    await post('/v1/queues/e2e-queue/messages', { body: 'two' });
    await page
      .locator('[data-testid="locks"] tr[data-lock="e2e-lock"]')
      .filter({ hasText: `token ${String(token)}` })
      .waitFor({ timeout: 10_000 });
    await page
      .locator('[data-testid="queues"] tr[data-queue="e2e-queue"] [data-field="depth"]')
      .filter({ hasText: /^2$/ })
      .waitFor({ timeout: 10_000 });
    // The cache is per node: one card each, with its hit rate.
    await page
      .locator('[data-testid="cache"] .card:nth-child(3) > dl > [data-field="hitRate"]')
      .waitFor({
        timeout: 10_000,
      });
    expect(await page.locator('[data-testid="cache"] .card').count()).toBe(3);
  });

  it('transfers the lead to the node serving the page through the action', async () => {
    const served = new URL(page.url()).port;
    const own = cluster.members.find((member) => String(member.port) === served)!;
    await page
      .locator('[data-testid="transfer-to"] option')
      .filter({ hasText: new RegExp(`^${own.id}$`) })
      .waitFor({ state: 'attached', timeout: 10_000 });
    await page.selectOption('[data-testid="transfer-to"]', own.id);
    await page.click('[data-testid="transfer-form"] button');
    await page.waitForSelector('[data-testid="transfer-result"][data-state="ok"]', {
      timeout: 10_000,
    });
    expect(await pageLeader({ expected: own.id }, 10_000)).toBe(own.id);
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard.png'), fullPage: true });
  });

  it('when the leader serving the page is killed, follows the cluster to a peer and shows the new leader', async () => {
    const served = new URL(page.url()).port;
    const victim = cluster.members.find((member) => String(member.port) === served)!;
    // A loaded machine may have moved the lead since the last test: hand it back first.
    const before = await waitFor(
      `${victim.id} (serving the page) to lead`,
      async () => {
        const leader = await cluster.waitForLeader();
        if (leader.id === victim.id) return leader;
        await fetch(`${victim.url}/v1/cluster/transfer-leadership`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ to: victim.id }),
          signal: AbortSignal.timeout(8000),
        }).catch(() => undefined);
        return undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(before.id).toBe(victim.id);
    const killedAt = Date.now();
    victim.process?.child.kill('SIGKILL');
    await victim.process?.exited;
    const next = await pageLeader({ not: before.id }, 15_000);
    const elapsedMs = Date.now() - killedAt;
    console.log(
      `the page showed the new leader ${next} ${elapsedMs} ms after kill -9 of ${before.id}`,
    );
    expect(next).not.toBe(before.id);
    // The page now reads from a surviving node and shows the killed one as unreachable.
    await page.waitForSelector(
      `[data-testid="nodes"] tr[data-node="${before.id}"][data-role="unreachable"]`,
      {
        timeout: 10_000,
      },
    );
    expect(await page.getAttribute('[data-testid="stream-state"]', 'data-state')).toBe('live');
    expect(await page.textContent('[data-testid="stream-state"]')).not.toContain(`:${served}`);
    // The timeline has the new leader's row, and the killed node's loss.
    await page.waitForSelector(
      `[data-testid="timeline"] li[data-type="leader"][data-subject="${next}"]`,
      { timeout: 10_000 },
    );
    await page.waitForSelector(
      `[data-testid="timeline"] li[data-type="unreachable"][data-subject="${before.id}"]`,
      { timeout: 10_000 },
    );
    await page.screenshot({ path: join(OUTPUT_DIR, 'after-leader-killed.png'), fullPage: true });
  });
});
