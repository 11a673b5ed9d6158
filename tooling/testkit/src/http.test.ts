// Which error answers to a write prove it did not apply: the kv checker counts those as failed
// and every other error as unknown, so a wrong "definite" here would hide a lost write.
import { describe, expect, it } from 'vitest';
import { isDefiniteWriteFailure, outcomeOf } from './http.js';

const noLeader = (message: string): unknown => ({ error: { code: 'NO_LEADER', message } });

describe('isDefiniteWriteFailure', () => {
  it('takes refusals before the log and proposals a leader change lost as definite', () => {
    for (const message of [
      'no leader is known; retry',
      'this node is not the leader (leader: n2)',
      'leadership is being transferred; retry',
      'the proposal was overwritten by a new leader; retry',
      'the forwarded proposal was lost when term 7 began: it was not applied; retry',
    ]) {
      expect(isDefiniteWriteFailure(503, noLeader(message)), message).toBe(true);
    }
    expect(isDefiniteWriteFailure(409, { error: { code: 'CONFLICT', message: 'x' } })).toBe(true);
  });

  it('keeps timeouts, a NO_LEADER after one, and server errors unknown', () => {
    expect(isDefiniteWriteFailure(503, noLeader('no leader is known: no answer in 5000 ms'))).toBe(
      false,
    );
    expect(isDefiniteWriteFailure(408, { error: { code: 'TIMEOUT', message: 'late' } })).toBe(
      false,
    );
    expect(isDefiniteWriteFailure(500, { error: { code: 'INTERNAL', message: 'x' } })).toBe(false);
    expect(isDefiniteWriteFailure(503, 'not json')).toBe(false);
    expect(outcomeOf({ kind: 'answer', status: 503, body: noLeader('x') })).toBe('unknown');
  });
});
