// The service sections with the fields the services report: locks (holders with their fencing
// tokens, waiters), queues (depth, in flight, DLQ depth, rates) and the cache (hit rate, lines by
// MESI state). Anything unexpected falls back to the generic rendering of render.ts, so a
// service that changes its status shape still shows.
import type {
  ClusterSnapshot,
  DashboardNode,
  ServiceDetail,
} from '../../src/dashboard/snapshot.js';
import { h, type Child } from './dom.js';
import {
  absent,
  clock,
  duration,
  isRecord,
  renderValue,
  replicatedSource,
  serviceRuns,
  table,
  text,
} from './render.js';

function numberOf(record: Record<string, unknown>, key: string): number | undefined {
  const value = record[key];
  return typeof value === 'number' ? value : undefined;
}

function shortId(id: unknown): string {
  const value = typeof id === 'string' ? id : text(id);
  return value.length > 10 ? `${value.slice(0, 8)}…` : value;
}

/** One line of counters from a service's `status()` (`held 2 · waiting 1`). */
function summaryLine(source: DashboardNode | undefined, service: string): Child {
  const status = source?.status?.serviceStatus?.[service];
  if (!isRecord(status)) return null;
  const parts = Object.entries(status)
    .filter(([, value]) => typeof value === 'number')
    .map(([key, value]) => `${key} ${text(value)}`);
  return h('p', { class: 'muted' }, `${parts.join(' · ')} (as ${source?.id ?? '?'} sees it)`);
}

function detailNote(detail: ServiceDetail | undefined): Child {
  if (detail === undefined) return null;
  if (detail.error !== null) {
    const when = detail.atMs === null ? 'nothing read yet' : `last read ${clock(detail.atMs)}`;
    return h('p', { class: 'error' }, `${detail.error} (${when})`);
  }
  return null;
}

function holderText(holder: Record<string, unknown>): string {
  const count = numberOf(holder, 'holdCount') ?? 1;
  const since = numberOf(holder, 'sinceMs');
  return [
    shortId(holder.sessionId),
    text(holder.mode),
    `token ${text(holder.token)}`,
    count > 1 ? `×${count}` : '',
    since === undefined ? '' : `since ${clock(since)}`,
  ]
    .filter((part) => part !== '')
    .join(' ');
}

function waiterText(waiter: Record<string, unknown>): string {
  const since = numberOf(waiter, 'sinceMs');
  const deadline = numberOf(waiter, 'deadlineMs');
  return [
    shortId(waiter.sessionId),
    text(waiter.mode),
    waiter.upgrade === true ? '(upgrade)' : '',
    since === undefined ? '' : `since ${clock(since)}`,
    deadline === undefined ? '' : `until ${clock(deadline)}`,
  ]
    .filter((part) => part !== '')
    .join(' ');
}

function list(items: readonly string[], testId: string): Child {
  if (items.length === 0) return h('span', { class: 'muted' }, '—');
  return h(
    'ul',
    { class: 'plain', 'data-list': testId },
    ...items.map((item) => h('li', null, item)),
  );
}

export function renderLocks(snapshot: ClusterSnapshot): Child {
  const detail = snapshot.details.locks;
  const source = replicatedSource(snapshot, 'lock');
  if (detail === undefined && source === undefined) {
    return absent('lock', serviceRuns(snapshot, 'lock'));
  }
  const value = detail?.value;
  const locks = isRecord(value) && Array.isArray(value.locks) ? value.locks.filter(isRecord) : [];
  const rows = locks.map((lock) =>
    h(
      'tr',
      { 'data-lock': text(lock.name) },
      h('td', null, h('strong', null, text(lock.name))),
      h(
        'td',
        null,
        list(
          (Array.isArray(lock.holders) ? lock.holders : []).filter(isRecord).map(holderText),
          'holders',
        ),
      ),
      h(
        'td',
        null,
        list(
          (Array.isArray(lock.waiters) ? lock.waiters : []).filter(isRecord).map(waiterText),
          'waiters',
        ),
      ),
    ),
  );
  const more =
    isRecord(value) && typeof value.next === 'string'
      ? h('p', { class: 'muted' }, `… more after ${value.next}`)
      : null;
  return h(
    'div',
    { 'data-state': 'present' },
    summaryLine(source, 'lock'),
    detailNote(detail),
    rows.length === 0
      ? h('p', { class: 'muted' }, 'No lock is held or awaited.')
      : table(['Lock', 'Holders (session, mode, fencing token)', 'Waiters'], rows),
    more,
  );
}

function rate(value: unknown): string {
  return typeof value === 'number' ? value.toFixed(1) : '—';
}

export function renderQueues(snapshot: ClusterSnapshot): Child {
  const detail = snapshot.details.queues;
  const source = replicatedSource(snapshot, 'queue');
  if (detail === undefined && source === undefined) {
    return absent('queue', serviceRuns(snapshot, 'queue'));
  }
  const value = detail?.value;
  const queues =
    isRecord(value) && Array.isArray(value.queues) ? value.queues.filter(isRecord) : [];
  const rows = queues.map((queue) => {
    const rates = isRecord(queue.rates) ? queue.rates : {};
    const oldest = numberOf(queue, 'oldestAgeMs');
    if (typeof queue.error === 'string') {
      return h(
        'tr',
        { 'data-queue': text(queue.queue) },
        h('td', null, text(queue.queue)),
        h('td', { class: 'error' }, queue.error),
      );
    }
    return h(
      'tr',
      { 'data-queue': text(queue.queue) },
      h('td', null, h('strong', null, text(queue.queue))),
      h('td', { class: 'num', 'data-field': 'depth' }, text(queue.depth)),
      h('td', { class: 'num', 'data-field': 'inFlight' }, text(queue.inFlight)),
      h('td', { class: 'num' }, text(queue.delayed)),
      h('td', { class: 'num', 'data-field': 'dlqDepth' }, text(queue.dlqDepth)),
      h('td', { class: 'num' }, rate(rates.enqueuePerSecond)),
      h('td', { class: 'num' }, rate(rates.dequeuePerSecond)),
      h('td', { class: 'num' }, rate(rates.ackPerSecond)),
      h('td', { class: 'num' }, oldest === undefined ? '—' : duration(oldest)),
    );
  });
  const more =
    isRecord(value) && typeof value.more === 'number' && value.more > 0
      ? h('p', { class: 'muted' }, `… and ${value.more} more queues`)
      : null;
  return h(
    'div',
    { 'data-state': 'present' },
    summaryLine(source, 'queue'),
    detailNote(detail),
    rows.length === 0
      ? h('p', { class: 'muted' }, 'No queue yet.')
      : table(
          ['Queue', 'Depth', 'In flight', 'Delayed', 'DLQ', 'In/s', 'Out/s', 'Acked/s', 'Oldest'],
          rows,
        ),
    more,
  );
}

function cacheCard(node: DashboardNode): HTMLElement {
  const status = node.status?.serviceStatus?.cache;
  const card = (...children: Child[]): HTMLElement =>
    h(
      'div',
      { class: node.reachable ? 'card' : 'card stale', 'data-node': node.id },
      h('h3', null, node.id, node.reachable ? '' : ' (last seen)'),
      ...children,
    );
  if (!isRecord(status) || typeof status.hitRate !== 'number' || !isRecord(status.lines)) {
    return card(renderValue(status));
  }
  const lines = status.lines;
  const store = isRecord(status.backingStore) ? status.backingStore : {};
  const lease = isRecord(status.lease) ? status.lease : {};
  return card(
    h(
      'dl',
      { class: 'fields' },
      h('dt', null, 'hit rate'),
      h(
        'dd',
        { 'data-field': 'hitRate' },
        `${(status.hitRate * 100).toFixed(1)}%`,
        h(
          'span',
          { class: 'muted' },
          ` (${text(status.hits)} hits, ${text(status.misses)} misses)`,
        ),
      ),
      h('dt', null, 'lines'),
      h(
        'dd',
        { 'data-field': 'lines' },
        `M ${text(lines.M)} · E ${text(lines.E)} · S ${text(lines.S)}`,
      ),
      h('dt', null, 'entries'),
      h('dd', null, `${text(status.entries)} (${text(status.bytes)} bytes)`),
      h('dt', null, 'lease'),
      h(
        'dd',
        null,
        lease.valid === true ? `valid, ${text(lease.remainingMs)} ms left` : 'not valid',
      ),
      h('dt', null, 'store'),
      h('dd', null, `${text(store.kind)}${store.healthy === false ? ' (unhealthy)' : ''}`),
    ),
    h('details', null, h('summary', null, 'all fields'), renderValue(status)),
  );
}

export function renderCache(snapshot: ClusterSnapshot): Child {
  const nodes = snapshot.nodes.filter((node) => node.status?.serviceStatus?.cache !== undefined);
  if (nodes.length === 0) return absent('cache', serviceRuns(snapshot, 'cache'));
  return h('div', { class: 'per-node', 'data-state': 'present' }, ...nodes.map(cacheCard));
}
