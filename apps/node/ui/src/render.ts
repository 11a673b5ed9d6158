// One snapshot in, the page's sections out. Every function here is a pure builder of DOM from
// the snapshot; main.ts decides when to call them. Service sections are rendered from whatever
// the services' `status()` returns, so a field a service adds shows up without a page change.
import type {
  ClusterSnapshot,
  ClusterTimelineEntry,
  DashboardNode,
  NodeStatusView,
} from '../../src/dashboard/snapshot.js';
import { h, type Child } from './dom.js';

const ROWS_MAX = 100;
const COLUMNS_MAX = 12;
const DEPTH_MAX = 3;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function text(value: unknown): string {
  if (value === undefined || value === null) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(3);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return JSON.stringify(value);
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '—';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

export function clock(ms: number): string {
  const date = new Date(ms);
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** The role a node shows: `unreachable`, its state when not running, else its Raft role. */
export function roleOf(node: DashboardNode): string {
  if (!node.reachable) return 'unreachable';
  const status = node.status;
  if (status === null) return 'unknown';
  if (status.state !== undefined && status.state !== 'running') return status.state;
  return status.role ?? 'unknown';
}

export function renderNodes(snapshot: ClusterSnapshot): HTMLElement {
  const header = ['Node', 'Role', 'Term', 'Commit', 'Applied', 'Last', 'Ready', 'Uptime', 'URL'];
  const rows = snapshot.nodes.map((node) => {
    const status = node.status;
    const role = roleOf(node);
    const stale = node.reachable ? undefined : 'stale';
    return h(
      'tr',
      { 'data-node': node.id, 'data-role': role, class: stale },
      h(
        'td',
        null,
        h('strong', null, node.id),
        node.id === snapshot.servedBy ? h('span', { class: 'here' }, 'serving this page') : null,
      ),
      h('td', null, h('span', { class: `badge role-${role}` }, role)),
      h('td', { class: 'num' }, text(status?.term)),
      h('td', { class: 'num' }, text(status?.commitIndex)),
      h('td', { class: 'num' }, text(status?.appliedIndex)),
      h('td', { class: 'num' }, text(status?.lastIndex)),
      h('td', null, node.reachable ? text(status?.ready) : '—'),
      h('td', { class: 'num' }, node.reachable ? duration(status?.uptimeMs) : '—'),
      h(
        'td',
        { class: 'url', title: node.error ?? '' },
        node.url ?? '—',
        node.error === null ? '' : h('div', { class: 'error' }, node.error),
      ),
    );
  });
  return table(header, rows);
}

export function table(header: readonly string[], rows: readonly HTMLElement[]): HTMLTableElement {
  return h(
    'table',
    null,
    h('thead', null, h('tr', null, ...header.map((title) => h('th', null, title)))),
    h('tbody', null, ...rows),
  );
}

/** Each node's view of each peer: connection state and phi (suspicion). */
export function renderPhi(snapshot: ClusterSnapshot): HTMLElement {
  const ids = snapshot.nodes.map((node) => node.id);
  const rows = snapshot.nodes
    .filter((node) => node.reachable && node.status !== null)
    .map((node) => {
      const peers = node.status?.peers ?? [];
      return h(
        'tr',
        { 'data-observer': node.id },
        h('th', null, node.id),
        ...ids.map((id) => {
          if (id === node.id) return h('td', { class: 'self' }, '·');
          const peer = peers.find((candidate) => candidate.id === id);
          if (peer === undefined) return h('td', null, '—');
          const state =
            peer.connection !== 'connected' ? 'down' : peer.suspected ? 'suspected' : 'up';
          return h(
            'td',
            { class: `link link-${state}`, 'data-peer': id },
            peer.connection,
            h('div', { class: 'phi' }, `φ ${peer.phi === null ? '∞' : peer.phi.toFixed(2)}`),
          );
        }),
      );
    });
  return h(
    'table',
    { class: 'matrix' },
    h(
      'thead',
      null,
      h('tr', null, h('th', null, 'seen by ↓ / peer →'), ...ids.map((id) => h('th', null, id))),
    ),
    h('tbody', null, ...rows),
  );
}

/** A service's status of any shape: tables for lists of records, definition lists for records. */
export function renderValue(value: unknown, depth = 0): Child {
  if (Array.isArray(value)) {
    if (value.length === 0) return h('span', { class: 'muted' }, 'none');
    if (value.every(isRecord)) return recordTable(value, depth);
    return value
      .slice(0, ROWS_MAX)
      .map((item) => text(item))
      .join(', ');
  }
  if (isRecord(value)) {
    if (depth >= DEPTH_MAX) return h('code', null, JSON.stringify(value));
    const entries = Object.entries(value);
    if (entries.length === 0) return h('span', { class: 'muted' }, 'empty');
    return h(
      'dl',
      { class: 'fields' },
      ...entries.flatMap(([key, item]) => [
        h('dt', null, key),
        h('dd', { 'data-field': key }, renderValue(item, depth + 1)),
      ]),
    );
  }
  return text(value);
}

function recordTable(records: readonly Record<string, unknown>[], depth: number): HTMLElement {
  const columns: string[] = [];
  for (const record of records) {
    for (const key of Object.keys(record)) {
      if (!columns.includes(key) && columns.length < COLUMNS_MAX) columns.push(key);
    }
  }
  const rows = records.slice(0, ROWS_MAX).map((record) =>
    h(
      'tr',
      null,
      ...columns.map((column) => {
        const cell = record[column];
        return h(
          'td',
          null,
          isRecord(cell) || Array.isArray(cell) ? renderValue(cell, depth + 1) : text(cell),
        );
      }),
    ),
  );
  const more =
    records.length > ROWS_MAX
      ? h('p', { class: 'muted' }, `… ${records.length - ROWS_MAX} more`)
      : null;
  return h('div', null, table(columns, rows), more);
}

/**
 * Where a replicated service's state is read: the leader's status when it answers (it has
 * applied the most), else the page's own node.
 */
export function replicatedSource(
  snapshot: ClusterSnapshot,
  service: string,
): DashboardNode | undefined {
  const has = (node: DashboardNode | undefined): node is DashboardNode =>
    node !== undefined && node.reachable && node.status?.serviceStatus?.[service] !== undefined;
  const leader = snapshot.nodes.find((node) => node.id === snapshot.leader?.id);
  if (has(leader)) return leader;
  const own = snapshot.nodes.find((node) => node.id === snapshot.servedBy);
  if (has(own)) return own;
  return snapshot.nodes.find(has);
}

export function serviceRuns(snapshot: ClusterSnapshot, service: string): boolean {
  return snapshot.nodes.some((node) => node.status?.services?.includes(service) === true);
}

export function absent(service: string, running: boolean): HTMLElement {
  return h(
    'p',
    { class: 'muted', 'data-state': running ? 'no-status' : 'absent' },
    running
      ? `The ${service} service runs but reports no status.`
      : `The ${service} service is not running on this cluster.`,
  );
}

function describeEntry(entry: ClusterTimelineEntry): string {
  switch (entry.type) {
    case 'election':
      return `${entry.subject} started an election for term ${text(entry.term)}`;
    case 'leader':
      return `${entry.subject} leads term ${text(entry.term)}`;
    case 'unreachable':
      return `${entry.subject} is unreachable`;
    case 'reachable':
      return `${entry.subject} answers again`;
  }
}

export function renderTimeline(snapshot: ClusterSnapshot): HTMLElement[] {
  if (snapshot.timeline.length === 0) return [h('li', { class: 'muted' }, 'nothing yet')];
  return snapshot.timeline.map((entry) =>
    h(
      'li',
      { 'data-type': entry.type, 'data-subject': entry.subject },
      h('time', null, clock(entry.atMs)),
      h('span', { class: `event event-${entry.type}` }, describeEntry(entry)),
      h('span', { class: 'muted' }, ` seen by ${entry.seenBy.join(', ')}`),
    ),
  );
}

/** The table `distsync status` prints, from the same /status documents. */
export function statusTable(snapshot: ClusterSnapshot): string {
  const header = [
    'ID',
    'ROLE',
    'TERM',
    'LEADER',
    'COMMIT',
    'APPLIED',
    'READY',
    'ENDPOINT',
    'PEERS',
  ];
  const lines = snapshot.nodes.map((node) => {
    const status: NodeStatusView | null = node.status;
    const endpoint = node.url ?? '-';
    if (!node.reachable || status === null) {
      return [node.id, 'unreachable', '-', '-', '-', '-', '-', endpoint, node.error ?? ''];
    }
    const cell = (value: unknown): string =>
      value === undefined || value === null ? '-' : text(value);
    const peers = (status.peers ?? [])
      .map(
        (peer) =>
          `${peer.id}:${peer.connection === 'connected' ? 'up' : peer.connection}(phi ${peer.phi === null ? '-' : String(peer.phi)})`,
      )
      .join(' ');
    return [
      status.id,
      roleOf(node),
      cell(status.term),
      cell(status.leader),
      cell(status.commitIndex),
      cell(status.appliedIndex),
      status.ready === true ? 'yes' : 'no',
      endpoint,
      peers,
    ];
  });
  const all = [header, ...lines];
  const widths = header.map((_, column) =>
    Math.max(...all.map((line) => (line[column] ?? '').length)),
  );
  return all
    .map((line) =>
      line
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One collapsible raw /status per node (what `distsync status --json` prints). */
export function renderRaw(snapshot: ClusterSnapshot, open: ReadonlySet<string>): HTMLElement[] {
  return snapshot.nodes.map((node) => {
    const details = h(
      'details',
      { 'data-node': node.id },
      h('summary', null, `${node.id} /status${node.reachable ? '' : ' (last seen)'}`),
      h('pre', null, JSON.stringify(node.status, null, 2)),
    );
    details.open = open.has(node.id);
    return details;
  });
}
