// The wait-for graph (owner waits for owner) and the search for a cycle in it. Pure: it reads the
// lock table through two callbacks and never changes it, so every replica finds the same cycle.

/** One edge of the graph: the session of `requestId` waits for `blocker`. */
export interface WaitEdge {
  readonly requestId: number;
  readonly from: string;
  readonly blocker: string;
}

export interface WaitForGraph {
  /** The requests a session waits on, in ascending requestId order. */
  waitingRequests(sessionId: string): readonly number[];
  /** The sessions a waiting request waits for, in a deterministic order. */
  blockersOf(requestId: number): readonly string[];
}

/**
 * A cycle through `start`, as the edges that form it, or undefined. Depth-first in ascending
 * requestId and blocker order, so every replica finds the same cycle; each session is expanded
 * once, so the search is linear in the edges.
 */
export function findCycle(graph: WaitForGraph, start: string): WaitEdge[] | undefined {
  const visited = new Set<string>();
  const path: WaitEdge[] = [];
  const visit = (session: string): boolean => {
    for (const requestId of graph.waitingRequests(session)) {
      for (const blocker of graph.blockersOf(requestId)) {
        path.push({ requestId, from: session, blocker });
        if (blocker === start) return true;
        if (!visited.has(blocker)) {
          visited.add(blocker);
          if (visit(blocker)) return true;
        }
        path.pop();
      }
    }
    return false;
  };
  visited.add(start);
  return visit(start) ? path : undefined;
}

/** The youngest request of a cycle (the highest Raft index): the deadlock victim. */
export function youngestRequest(cycle: readonly WaitEdge[]): number {
  let youngest = 0;
  for (const edge of cycle) youngest = Math.max(youngest, edge.requestId);
  return youngest;
}
