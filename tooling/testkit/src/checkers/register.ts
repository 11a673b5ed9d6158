// The register model for kv keys and cache lines: read, write and compare-and-set of a single
// value. Values are unique per write (the workloads make them so), which lets a version-based
// CAS (`expectedVersion`) be checked as a value-based one: the version a client read names
// exactly one write, so "the version is still v" is "the value is still the one written at v".
import {
  checkLinearizable,
  type LinearizabilityVerdict,
  type Model,
  type Operation,
} from './linearizability.js';

/** `null`: the key does not exist. */
export type RegisterValue = string | null;

export type RegisterInput =
  | { readonly f: 'read' }
  | { readonly f: 'write'; readonly value: string }
  | { readonly f: 'cas'; readonly from: RegisterValue; readonly to: string };

export type RegisterOutput =
  | { readonly f: 'read'; readonly value: RegisterValue }
  | { readonly f: 'write' }
  | { readonly f: 'cas'; readonly ok: boolean };

export type RegisterOperation = Operation<RegisterInput, RegisterOutput>;

export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  name: 'register',
  init: () => null,
  stateKey: (state) => (state === null ? '\u0000' : `=${state}`),
  step(state, input, output) {
    switch (input.f) {
      case 'read':
        if (output === undefined) return { ok: true, state };
        return output.f === 'read' && output.value === state ? { ok: true, state } : { ok: false };
      case 'write':
        return { ok: true, state: input.value };
      case 'cas': {
        const matches = state === input.from;
        // An unknown CAS did what the state says it would: swap when it matched, else nothing.
        if (output === undefined) return { ok: true, state: matches ? input.to : state };
        if (output.f !== 'cas' || output.ok !== matches) return { ok: false };
        return { ok: true, state: matches ? input.to : state };
      }
    }
  },
};

export type RegisterVerdict = LinearizabilityVerdict<RegisterValue, RegisterInput, RegisterOutput>;

/** Linearizability of every key's register history (keys checked independently). */
export function checkRegisters(
  operations: readonly RegisterOperation[],
  options: { maxStepsPerKey?: number } = {},
): RegisterVerdict {
  return checkLinearizable({ model: registerModel, operations, ...options });
}
