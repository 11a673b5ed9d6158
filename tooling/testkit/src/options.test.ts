import { describe, expect, it } from 'vitest';
import {
  createWorkloads,
  NEMESES,
  parseDuration,
  parseNemeses,
  partitionGroups,
  Random,
  TestkitError,
} from '@distsync/testkit';

describe('campaign options', () => {
  it('parses durations with units and rejects anything else with BAD_OPTION', () => {
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90')).toBe(90_000);
    expect(() => parseDuration('soon')).toThrow(
      expect.objectContaining({ code: 'BAD_OPTION' }) as Error,
    );
  });

  it('expands nemesis groups and names an unknown one', () => {
    expect(parseNemeses('kill')).toEqual(['kill', 'kill-leader']);
    expect(parseNemeses('all')).toEqual([...NEMESES]);
    expect(parseNemeses('none')).toEqual([]);
    expect(parseNemeses('pause,partition-one')).toEqual(['pause', 'pause-leader', 'partition-one']);
    expect(() => parseNemeses('kill,meteor')).toThrow(/meteor/);
    expect(() => parseNemeses('meteor')).toThrow(TestkitError);
  });

  it('runs every workload but the negative control for all, and rejects an unknown one with BAD_OPTION', () => {
    expect(createWorkloads('kv').map((w) => w.name)).toEqual(['kv']);
    // `all` must be able to pass: the control fails by design, so only naming it runs it.
    expect(createWorkloads('all').map((w) => w.name)).toEqual([
      'kv',
      'kv-ws',
      'lock',
      'queue',
      'cache',
    ]);
    expect(createWorkloads('all,lock-unfenced').map((w) => w.name)).toContain('lock-unfenced');
    expect(() => createWorkloads('kv,banana')).toThrow(
      expect.objectContaining({ code: 'BAD_OPTION' }) as Error,
    );
  });

  it('draws partition shapes that split the nodes into the named sizes', () => {
    const random = new Random(3);
    const five = [0, 1, 2, 3, 4];
    const sizes = (kind: (typeof NEMESES)[number]) =>
      partitionGroups(kind, five, random).map((g) => g.length);
    expect(sizes('partition-one')).toEqual([1, 4]);
    expect(sizes('partition-majority')).toEqual([3, 2]);
    expect(sizes('partition-minority-third')).toEqual([1, 4]);
    const groups = partitionGroups('partition-majority', five, random);
    expect(groups.flat().sort()).toEqual(five);
  });

  it('replays the same choices from the same seed', () => {
    const a = new Random(42);
    const b = new Random(42);
    expect(Array.from({ length: 5 }, () => a.int(0, 1000))).toEqual(
      Array.from({ length: 5 }, () => b.int(0, 1000)),
    );
  });
});
