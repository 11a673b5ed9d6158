import { FailureDetectorError, invalidOption } from './errors.js';

/**
 * The largest duration, in milliseconds, any option or recorded interval may take: 2^31 - 1 ms
 * (about 24.8 days), the largest delay Node's timers accept. Bounding durations keeps every sum
 * and square in the statistics far from overflow.
 */
export const MAX_DURATION_MS = 2_147_483_647;

/** A rule for one numeric option: its name for messages, the rule in words and its test. */
export interface NumberRule {
  readonly name: string;
  readonly rule: string;
  readonly test: (value: number) => boolean;
}

/** Returns `value` when it obeys `rule`, `fallback` when it is undefined, and throws otherwise. */
export function numberOption(value: unknown, fallback: number, rule: NumberRule): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !rule.test(value)) {
    throw invalidOption(rule.name, rule.rule, value);
  }
  return value;
}

/** Returns `value` when it is a boolean, `fallback` when it is undefined, and throws otherwise. */
export function booleanOption(value: unknown, fallback: boolean, name: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value);
  return value;
}

/**
 * Checks that `options` is undefined or a plain object without unknown keys, so a misspelt option
 * (`treshold`) fails loudly at construction instead of silently taking its default.
 */
export function optionsObject(
  options: unknown,
  scope: string,
  knownKeys: readonly string[],
): Readonly<Record<string, unknown>> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidOption(scope, 'an object or undefined', options);
  }
  for (const key of Object.keys(options)) {
    if (!knownKeys.includes(key)) {
      throw new FailureDetectorError(
        'INVALID_OPTION',
        `${scope}.${key} is not a known option (known options: ${knownKeys.join(', ')})`,
      );
    }
  }
  return options as Readonly<Record<string, unknown>>;
}

/** An integer in `[min, max]`, for counts such as `maxSampleSize`. */
export function integerRule(name: string, min: number, max: number): NumberRule {
  return {
    name,
    rule: `an integer from ${min} to ${max}`,
    test: (value) => Number.isInteger(value) && value >= min && value <= max,
  };
}

/** A duration in milliseconds: finite, above zero (or at least zero) and at most the bound. */
export function durationRule(name: string, allowZero: boolean): NumberRule {
  return {
    name,
    rule: allowZero
      ? `a number of milliseconds from 0 to ${MAX_DURATION_MS}`
      : `a number of milliseconds greater than 0 and at most ${MAX_DURATION_MS}`,
    test: (value) =>
      Number.isFinite(value) && (allowZero ? value >= 0 : value > 0) && value <= MAX_DURATION_MS,
  };
}
