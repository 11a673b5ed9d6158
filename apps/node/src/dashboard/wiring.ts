// What a node adds for the dashboard: the hub (its own timeline, the peers' views, the event
// stream), the /ui routes, and the cluster routes (leadership transfer) the page's actions use.
import { readFileSync } from 'node:fs';
import type { RaftNode } from '@distsync/raft';
import type { NodeConfig } from '../config.js';
import { clusterRoutes } from '../http/cluster-routes.js';
import type { Logger } from '../logger.js';
import type { RouteSpec } from '../services/registry.js';
import { DashboardHub } from './hub.js';
import type { DashboardRoutesOptions } from './routes.js';
import { defaultUiDirectory } from './static-files.js';

export interface DashboardParts {
  /** For createApp. */
  readonly app: { dashboard: DashboardRoutesOptions; clusterRoutes: RouteSpec[] };
  /** Ends the event streams and stops refreshing (the node drains). */
  close(): void;
}

export function createDashboard(input: {
  config: NodeConfig;
  raft: RaftNode;
  logger: Logger;
  status: () => { readonly id: string; readonly [key: string]: unknown };
}): DashboardParts {
  const { config, raft } = input;
  // server.ts has read the same file for the https server already: it exists.
  const ca = config.tlsCaFile === undefined ? undefined : readFileSync(config.tlsCaFile);
  const hub = new DashboardHub({
    nodeId: config.id,
    raft,
    status: input.status,
    token: config.token,
    ca,
    logger: input.logger.child({ component: 'dashboard' }),
  });
  const routes = clusterRoutes({
    nodeId: config.id,
    raft,
    leaderUrl: () => {
      const url = input.status().leaderUrl;
      return typeof url === 'string' ? url : null;
    },
    token: config.token,
    ca,
    // Twice the longest election timeout, and never under two seconds.
    transferTimeoutMs: Math.max(2000, 4 * config.electionTicks * config.tickMs),
  });
  return {
    app: {
      dashboard: { hub, token: config.token, uiDirectory: defaultUiDirectory() },
      clusterRoutes: routes,
    },
    close: () => {
      hub.close();
    },
  };
}
