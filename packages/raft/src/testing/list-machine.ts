// A tiny append-only state machine for tests: order and contents both show, so a lost, invented
// or reordered write is visible in what it returns.
import { z } from 'zod';
import type { StateMachine } from '../state-machine.js';

export type ListMachine = StateMachine<{ push: string }, { all: true }, string[]>;

/** A fresh list named `list`: `{ push }` appends and returns the list; `{ all: true }` reads it. */
export function createListMachine(): ListMachine {
  const items: string[] = [];
  return {
    name: 'list',
    commandSchema: z.object({ push: z.string() }),
    querySchema: z.object({ all: z.literal(true) }),
    apply: (command) => {
      items.push(command.push);
      return [...items];
    },
    query: () => [...items],
    snapshot: () => new TextEncoder().encode(JSON.stringify(items)),
    restore: (bytes) => {
      items.splice(0, items.length, ...(JSON.parse(new TextDecoder().decode(bytes)) as string[]));
    },
  };
}
