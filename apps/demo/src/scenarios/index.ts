// Every scenario, in menu order. Services that have not landed in the node yet have no entry.
import type { Scenario } from '../scenario.js';
import { cacheScenario } from './cache.js';
import { kvScenario } from './kv.js';
import { locksScenario } from './locks.js';
import { queueScenario } from './queue.js';
import { raftScenario } from './raft.js';
import { statusScenario } from './status.js';

export const SCENARIOS: readonly Scenario[] = [
  locksScenario,
  queueScenario,
  cacheScenario,
  raftScenario,
  statusScenario,
  kvScenario,
];

export function scenarioNames(): string[] {
  return SCENARIOS.map((scenario) => scenario.name);
}
