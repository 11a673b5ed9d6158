// Resident memory from /proc: VmRSS of a process and every descendant (a node started through
// a wrapper such as tsx runs in a child process; the tree's sum is what the node costs).
import { readdirSync, readFileSync } from 'node:fs';

/** VmRSS of one process in KiB, or undefined when it is gone. */
export function processRssKiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

/** Parent pid to child pids, from one scan of /proc. */
function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  return children;
}

/** The pids of `rootPid` and all its descendants that are alive now. */
export function processTree(
  rootPid: number,
  children: Map<number, number[]> = childrenByParent(),
): number[] {
  const tree: number[] = [];
  const pending = [rootPid];
  while (pending.length > 0 && tree.length < 10_000) {
    const pid = pending.pop()!;
    tree.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Sum of VmRSS over the process tree in MiB, or undefined when the root is gone. */
export function treeRssMiB(
  rootPid: number,
  children: Map<number, number[]> = childrenByParent(),
): number | undefined {
  if (processRssKiB(rootPid) === undefined) return undefined;
  let totalKiB = 0;
  for (const pid of processTree(rootPid, children)) totalKiB += processRssKiB(pid) ?? 0;
  return totalKiB / 1024;
}

/** Samples the peak RSS per process while a phase runs; `stop()` returns the peaks in MiB. */
export function sampleRssPeaks(
  pids: readonly number[],
  intervalMs = 250,
): { stop: () => (number | undefined)[] } {
  const peaks: (number | undefined)[] = pids.map(() => undefined);
  const sample = (): void => {
    // One scan of /proc per sample (about 2 ms), whatever the number of nodes.
    const children = childrenByParent();
    pids.forEach((pid, index) => {
      const rss = treeRssMiB(pid, children);
      if (rss !== undefined) peaks[index] = Math.max(peaks[index] ?? 0, rss);
    });
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}
