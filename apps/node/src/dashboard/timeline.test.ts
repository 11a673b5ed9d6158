// The timeline: what a node records from its role changes (an election per candidacy, one
// leader row per term and leader, nothing for pre-votes), its bound, and the merge that shows a
// leader change seen by three nodes as one row.
import { describe, expect, it } from 'vitest';
import type { TimelineEvent } from './snapshot.js';
import { mergeTimelines, Timeline, TIMELINE_EVENTS_MAX } from './timeline.js';

function clock(): () => number {
  let now = 1000;
  return () => (now += 10);
}

describe('Timeline', () => {
  it('records elections and leader changes, once per term and leader, and skips pre-votes', () => {
    const timeline = new Timeline('n1', clock());
    timeline.observeRole({ type: 'follower', term: 0, leaderId: null });
    timeline.observeRole({ type: 'pre-candidate', term: 0 });
    timeline.observeRole({ type: 'candidate', term: 1 });
    timeline.observeRole({ type: 'leader', term: 1 });
    timeline.observeRole({ type: 'follower', term: 2, leaderId: null });
    timeline.observeRole({ type: 'follower', term: 2, leaderId: 'n2' });
    timeline.observeRole({ type: 'follower', term: 2, leaderId: 'n2' });
    timeline.observeRole({ type: 'stopped' });
    expect(
      timeline.events().map(({ type, term, subject }) => `${type}:${term}:${subject}`),
    ).toEqual(['election:1:n1', 'leader:1:n1', 'leader:2:n2']);
    expect(timeline.events().map((event) => event.seq)).toEqual([1, 2, 3]);
  });

  it(`keeps the last ${TIMELINE_EVENTS_MAX} events`, () => {
    const timeline = new Timeline('n1', clock());
    for (let term = 1; term <= TIMELINE_EVENTS_MAX + 20; term += 1) {
      timeline.observeRole({ type: 'candidate', term });
    }
    const events = timeline.events();
    expect(events).toHaveLength(TIMELINE_EVENTS_MAX);
    expect(events[0]?.term).toBe(21);
  });
});

describe('mergeTimelines', () => {
  const event = (
    partial: Partial<TimelineEvent> & Pick<TimelineEvent, 'node' | 'seq'>,
  ): TimelineEvent => ({
    atMs: 0,
    type: 'leader',
    term: 1,
    subject: 'n1',
    ...partial,
  });

  it('merges one leader change seen by several nodes into one row at its earliest time', () => {
    const rows = mergeTimelines([
      event({ node: 'n2', seq: 1, atMs: 120 }),
      event({ node: 'n1', seq: 1, atMs: 100 }),
      event({ node: 'n3', seq: 4, atMs: 130 }),
      event({ node: 'n1', seq: 2, atMs: 500, term: 2, subject: 'n2' }),
      event({ node: 'n1', seq: 3, atMs: 400, type: 'unreachable', term: null, subject: 'n3' }),
      event({ node: 'n2', seq: 2, atMs: 410, type: 'unreachable', term: null, subject: 'n3' }),
    ]);
    expect(rows).toEqual([
      { atMs: 500, type: 'leader', term: 2, subject: 'n2', seenBy: ['n1'] },
      { atMs: 410, type: 'unreachable', term: null, subject: 'n3', seenBy: ['n2'] },
      { atMs: 400, type: 'unreachable', term: null, subject: 'n3', seenBy: ['n1'] },
      { atMs: 100, type: 'leader', term: 1, subject: 'n1', seenBy: ['n1', 'n2', 'n3'] },
    ]);
  });

  it(`answers at most ${TIMELINE_EVENTS_MAX} rows, newest first`, () => {
    const events = Array.from({ length: TIMELINE_EVENTS_MAX * 2 }, (_, index) =>
      event({ node: 'n1', seq: index, atMs: index, term: index }),
    );
    const rows = mergeTimelines(events);
    expect(rows).toHaveLength(TIMELINE_EVENTS_MAX);
    expect(rows[0]?.atMs).toBe(TIMELINE_EVENTS_MAX * 2 - 1);
  });
});
