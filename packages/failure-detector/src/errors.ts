/**
 * Every error this package throws carries one of these codes. Throws are reserved for programmer
 * errors (bad options, bad arguments, a listener that throws); expected outcomes such as an
 * unknown peer or a full peer table are returned as values.
 */
export type FailureDetectorErrorCode =
  /** An option passed to a constructor or helper broke its rule; the message names both. */
  | 'INVALID_OPTION'
  /** A method argument (a peer id, an event name) has the wrong type or shape. */
  | 'INVALID_ARGUMENT'
  /** One or more event listeners threw; the monitor's state was updated before they ran. */
  | 'LISTENER_FAILED';

/** The one error class of `@distsync/failure-detector`; switch on `code`, never on `message`. */
export class FailureDetectorError extends Error {
  override readonly name = 'FailureDetectorError';
  readonly code: FailureDetectorErrorCode;

  constructor(code: FailureDetectorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Builds the error for an option that broke its rule, naming the option and the rule. */
export function invalidOption(option: string, rule: string, value: unknown): FailureDetectorError {
  return new FailureDetectorError(
    'INVALID_OPTION',
    `${option} must be ${rule} (got ${describe(value)})`,
  );
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  return typeof value;
}
