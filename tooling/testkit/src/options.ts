// Option parsing shared by the CLI and tests.
import { TestkitError } from './errors.js';

/** `60s`, `2m`, `500ms`, `90` (seconds) -> ms. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null)
    throw new TestkitError(
      'BAD_OPTION',
      `--time: expected e.g. 60s, 2m or 500ms, got ${JSON.stringify(text)}`,
    );
  const amount = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(amount * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000));
}
