// The fault-injection admin route (test only): `POST /v1/debug/faults` sets or clears clock and
// disk faults on this node, `GET /v1/debug/faults` reads them. Both exist on every node, so a
// harness gets a stable answer, but a node started without `faultInjection` refuses them with
// 403 FAULT_INJECTION_DISABLED and changes nothing.
import { z } from 'zod';
import { apiError, type OperationResult } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RouteSpec } from '../services/registry.js';
import { CLOCK_OFFSET_MS_MAX, CLOCK_RATE_MAX, CLOCK_RATE_MIN, type FaultClock } from './clock.js';
import { SYNC_DELAY_MS_MAX, type DiskFaults } from './disk.js';

/** The faults of a node started with `faultInjection`; undefined when it is off. */
export interface FaultControl {
  readonly clock: FaultClock;
  readonly disk: DiskFaults;
  /** Every change is logged at warn, so a node's log shows when its faults began and ended. */
  readonly logger: Logger;
}

export const FaultsBody = z.strictObject({
  /** Clears every clock and disk fault first (then applies the rest of the body). */
  reset: z.boolean().optional(),
  clock: z
    .strictObject({
      /** The wall clock's offset from real time, in ms (a step). */
      offsetMs: z.number().int().min(-CLOCK_OFFSET_MS_MAX).max(CLOCK_OFFSET_MS_MAX).optional(),
      /** How fast both clocks run: 1.01 is 1% fast. */
      rate: z.number().min(CLOCK_RATE_MIN).max(CLOCK_RATE_MAX).optional(),
    })
    .optional(),
  disk: z
    .strictObject({
      /** Every fdatasync and directory fsync waits this long first. */
      syncDelayMs: z.number().int().min(0).max(SYNC_DELAY_MS_MAX).optional(),
      /** Writes and file creations fail with ENOSPC while true. */
      noSpace: z.boolean().optional(),
      /** The next write or fsync fails with EIO: fatal, the node exits and must be restarted. */
      failNext: z.enum(['write', 'fsync']).optional(),
    })
    .optional(),
});

const FaultsAnswer = z.object({
  clock: z.object({ offsetMs: z.number(), rate: z.number(), wallMs: z.number() }),
  disk: z.object({
    syncDelayMs: z.number(),
    noSpace: z.boolean(),
    pending: z.array(z.object({ on: z.enum(['write', 'fsync']), code: z.string() })),
    fired: z.object({ eio: z.number(), enospc: z.number() }),
  }),
});

function disabled(): OperationResult {
  return apiError(
    'FAULT_INJECTION_DISABLED',
    'fault injection is off on this node (test only: start it with faultInjection, ' +
      '--fault-injection true or DISTSYNC_FAULT_INJECTION=1)',
  );
}

function stateOf(control: FaultControl): OperationResult {
  return {
    ok: true,
    value: {
      clock: { ...control.clock.faults(), wallMs: control.clock.wallMs() },
      disk: control.disk.state(),
    },
  };
}

function apply(control: FaultControl, body: z.infer<typeof FaultsBody>): OperationResult {
  if (body.reset === true) {
    control.clock.reset();
    control.disk.reset();
  }
  if (body.clock !== undefined) {
    control.clock.set({
      ...(body.clock.offsetMs === undefined ? {} : { offsetMs: body.clock.offsetMs }),
      ...(body.clock.rate === undefined ? {} : { rate: body.clock.rate }),
    });
  }
  if (body.disk !== undefined) {
    control.disk.set({
      ...(body.disk.syncDelayMs === undefined ? {} : { syncDelayMs: body.disk.syncDelayMs }),
      ...(body.disk.noSpace === undefined ? {} : { noSpace: body.disk.noSpace }),
      ...(body.disk.failNext === undefined ? {} : { failNext: body.disk.failNext }),
    });
  }
  const state = stateOf(control);
  control.logger.warn({ faults: body, state: state.ok ? state.value : null }, 'faults changed');
  return state;
}

/** The routes; `control` undefined (fault injection off) makes both answer the refusal. */
export function faultRoutes(control: FaultControl | undefined): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/debug/faults',
      summary: 'Test only: the clock and disk faults in place on this node',
      response: FaultsAnswer,
      errors: ['FAULT_INJECTION_DISABLED'],
      handle: () => Promise.resolve(control === undefined ? disabled() : stateOf(control)),
    },
    {
      method: 'post',
      path: '/v1/debug/faults',
      summary:
        'Test only: set or clear clock offset/rate and disk faults (slow fsync, ENOSPC, EIO) on this node',
      // Off: no body is read, so any request gets the refusal, not a validation error.
      ...(control === undefined ? {} : { body: FaultsBody }),
      response: FaultsAnswer,
      errors: ['FAULT_INJECTION_DISABLED'],
      handle: (input) =>
        Promise.resolve(
          control === undefined
            ? disabled()
            : apply(control, input.body as z.infer<typeof FaultsBody>),
        ),
    },
  ];
}
