// `distsync status`: every endpoint's /status as a table or JSON.
import { parseEndpoints, requestJson } from './endpoints.js';

export interface StatusRow {
  readonly endpoint: string;
  readonly reachable: boolean;
  readonly status?: Record<string, unknown>;
  readonly error?: string;
}

export async function fetchStatuses(endpoints: readonly string[]): Promise<StatusRow[]> {
  return Promise.all(
    endpoints.map(async (endpoint): Promise<StatusRow> => {
      try {
        const response = await requestJson(`${endpoint}/status`, { timeoutMs: 2000 });
        return { endpoint, reachable: true, status: response.body as Record<string, unknown> };
      } catch (error) {
        return {
          endpoint,
          reachable: false,
          error: error instanceof Error ? error.message : String(error),
        };
      }
    }),
  );
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function peerSummary(status: Record<string, unknown>): string {
  const peers = (status.peers ?? []) as { id: string; connection: string; phi: number | null }[];
  return peers
    .map(
      (peer) =>
        `${peer.id}:${peer.connection === 'connected' ? 'up' : peer.connection}(phi ${cell(peer.phi)})`,
    )
    .join(' ');
}

/** A plain-text table, one row per endpoint. */
export function formatStatusTable(rows: readonly StatusRow[]): string {
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
  const lines = rows.map((row) => {
    const status = row.status;
    if (!row.reachable || status === undefined) {
      return ['?', 'unreachable', '-', '-', '-', '-', '-', row.endpoint, row.error ?? ''];
    }
    return [
      cell(status.id),
      cell(status.state === 'running' ? status.role : status.state),
      cell(status.term),
      cell(status.leader),
      cell(status.commitIndex),
      cell(status.appliedIndex),
      status.ready === true ? 'yes' : 'no',
      row.endpoint,
      peerSummary(status),
    ];
  });
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)),
  );
  return [header, ...lines]
    .map((line) =>
      line
        .map((text, column) => text.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function statusCommand(options: {
  endpoints: string;
  json?: boolean;
}): Promise<number> {
  const rows = await fetchStatuses(parseEndpoints(options.endpoints));
  if (options.json === true) {
    console.log(JSON.stringify(rows, null, 2));
  } else {
    console.log(formatStatusTable(rows));
  }
  return rows.some((row) => row.reachable) ? 0 : 1;
}
