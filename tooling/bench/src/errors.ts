// The bench's error codes. Expected outcomes (a peer that is not installed, a request that
// failed during failover) are returned values; these errors are for runs that cannot go on.

export type BenchErrorCode =
  | 'BAD_OPTION'
  | 'START_TIMEOUT'
  | 'PROCESS_EXITED'
  | 'REQUEST_FAILED'
  | 'UNKNOWN_SUITE'
  | 'BAD_CHART';

export const BENCH_ERROR_CODES: readonly BenchErrorCode[] = [
  'BAD_OPTION',
  'START_TIMEOUT',
  'PROCESS_EXITED',
  'REQUEST_FAILED',
  'UNKNOWN_SUITE',
  'BAD_CHART',
];

export class BenchError extends Error {
  readonly code: BenchErrorCode;

  constructor(code: BenchErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BenchError';
    this.code = code;
  }
}
