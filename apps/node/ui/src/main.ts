// The dashboard page: one event stream (stream.ts) feeds every section (render.ts). The token,
// when the cluster needs one, is asked once and kept in sessionStorage (this tab only).
import type { ClusterSnapshot } from '../../src/dashboard/snapshot.js';
import { byId, fill, h, query } from './dom.js';
import {
  renderNodes,
  renderPhi,
  renderRaw,
  renderTimeline,
  roleOf,
  statusTable,
} from './render.js';
import { renderCache, renderLocks, renderQueues } from './services.js';
import { ClusterStream, postJson, type StreamState } from './stream.js';
import './style.css';

const TOKEN_KEY = 'distsync.token';

let latest: ClusterSnapshot | undefined;
let frame: number | undefined;

function render(snapshot: ClusterSnapshot): void {
  const clusterId = snapshot.nodes.find((node) => node.status !== null)?.status?.clusterId;
  byId('cluster', HTMLElement).textContent = typeof clusterId === 'string' ? clusterId : '';
  const leader = byId('leader-id', HTMLElement);
  leader.textContent = snapshot.leader === null ? 'none' : snapshot.leader.id;
  leader.dataset.term = snapshot.leader === null ? '' : String(snapshot.leader.term);
  leader.className = snapshot.leader === null ? 'no-leader' : 'has-leader';
  document.title = `distsync · ${snapshot.leader === null ? 'no leader' : `leader ${snapshot.leader.id}`}`;
  fill('nodes', renderNodes(snapshot));
  fill('phi', renderPhi(snapshot));
  fill('locks', renderLocks(snapshot));
  fill('queues', renderQueues(snapshot));
  fill('cache', renderCache(snapshot));
  fill('timeline', ...renderTimeline(snapshot));
  byId('status-table', HTMLElement).textContent = statusTable(snapshot);
  const open = new Set(
    [...document.querySelectorAll<HTMLDetailsElement>('#raw details[open]')].flatMap((details) =>
      details.dataset.node === undefined ? [] : [details.dataset.node],
    ),
  );
  fill('raw', ...renderRaw(snapshot, open));
  renderTransferChoices(snapshot);
}

/** Rebuilds the target list only when the choices change, so a pending choice survives. */
function renderTransferChoices(snapshot: ClusterSnapshot): void {
  const select = query('[data-testid="transfer-to"]', HTMLSelectElement);
  const choices = snapshot.nodes
    .filter((node) => node.reachable && roleOf(node) === 'follower')
    .map((node) => node.id);
  const current = [...select.options].map((option) => option.value);
  if (current.join(',') === choices.join(',')) return;
  const chosen = select.value;
  select.replaceChildren(...choices.map((id) => h('option', null, id)));
  if (choices.includes(chosen)) select.value = chosen;
}

function showState(state: StreamState): void {
  const badge = query('[data-testid="stream-state"]', HTMLElement);
  const where = state.url.replace(/^https?:\/\//, '');
  const labels: Record<StreamState['type'], string> = {
    connecting: `connecting to ${where}…`,
    live: `live from ${where}`,
    unauthorized: 'needs the client token',
    retrying: `lost ${where}, trying the next node…`,
  };
  badge.textContent = labels[state.type];
  badge.dataset.state = state.type;
  if (state.type === 'retrying') badge.title = state.error;
  query('[data-testid="token-form"]', HTMLFormElement).hidden = state.type !== 'unauthorized';
}

function start(): void {
  const stream = new ClusterStream({
    origin: window.location.origin,
    token: sessionStorage.getItem(TOKEN_KEY),
    handlers: {
      snapshot: (snapshot) => {
        latest = snapshot;
        frame ??= requestAnimationFrame(() => {
          frame = undefined;
          if (latest !== undefined) render(latest);
        });
      },
      state: showState,
    },
  });
  query('[data-testid="token-form"]', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    const token = query('[data-testid="token-input"]', HTMLInputElement).value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    stream.restart(token);
  });
  byId('transfer', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    void transfer(stream);
  });
  void stream.run();
}

async function transfer(stream: ClusterStream): Promise<void> {
  const to = query('[data-testid="transfer-to"]', HTMLSelectElement).value;
  const result = query('[data-testid="transfer-result"]', HTMLElement);
  if (to === '') {
    result.textContent = 'no follower to hand the lead to';
    return;
  }
  result.textContent = `asking ${to} to take over…`;
  result.dataset.state = 'pending';
  try {
    const answer = await postJson({
      base: stream.current ?? window.location.origin,
      path: '/v1/cluster/transfer-leadership',
      body: { to },
      token: stream.token,
    });
    const body = answer.body as { leader?: string; term?: number; error?: { message?: string } };
    if (answer.status === 200) {
      result.textContent = `${body.leader ?? to} leads term ${body.term ?? '?'}`;
      result.dataset.state = 'ok';
    } else {
      result.textContent = `refused (${answer.status}): ${body.error?.message ?? 'unknown error'}`;
      result.dataset.state = 'error';
    }
  } catch (error) {
    result.textContent = `failed: ${error instanceof Error ? error.message : String(error)}`;
    result.dataset.state = 'error';
  }
}

start();
