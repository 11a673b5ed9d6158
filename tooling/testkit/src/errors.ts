// The testkit's error codes. A checker's verdict is a returned value; these errors are for
// campaigns that cannot go on (a bad option, a cluster that never became ready).

export type TestkitErrorCode =
  'BAD_OPTION' | 'START_TIMEOUT' | 'PROCESS_EXITED' | 'NOT_BUILT' | 'REQUEST_FAILED';

export const TESTKIT_ERROR_CODES: readonly TestkitErrorCode[] = [
  'BAD_OPTION',
  'START_TIMEOUT',
  'PROCESS_EXITED',
  'NOT_BUILT',
  'REQUEST_FAILED',
];

export class TestkitError extends Error {
  readonly code: TestkitErrorCode;

  constructor(code: TestkitErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TestkitError';
    this.code = code;
  }
}
