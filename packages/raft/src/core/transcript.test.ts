// Transcript tests (STYLE.md 21, etcd-io/raft `interaction_test.go`): each file under testdata/
// is a script of commands, each followed by `----` and the trace it must produce. The test
// replays the script against a TestNetwork and compares the whole transcript as text, so a
// protocol change shows up as a readable diff. Run with UPDATE_TRANSCRIPTS=1 to rewrite them.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RaftMessage, StepResult } from '@distsync/raft';
import { TestNetwork } from '@distsync/raft/testing';

const directory = new URL('./testdata/', import.meta.url);

interface Block {
  /** Comment lines (starting with #) before the command, kept verbatim. */
  readonly comments: string[];
  readonly command: string;
  readonly expected: string;
}

function parse(text: string): Block[] {
  const blocks: Block[] = [];
  for (const chunk of text.split(/\n\s*\n/)) {
    const lines = chunk.split('\n');
    const separator = lines.indexOf('----');
    if (chunk.trim() === '') continue;
    if (separator < 0) throw new Error(`block without a ---- line: ${chunk}`);
    const head = lines.slice(0, separator);
    blocks.push({
      comments: head.filter((line) => line.startsWith('#')),
      command: head
        .filter((line) => !line.startsWith('#'))
        .join(' ')
        .trim(),
      expected: lines
        .slice(separator + 1)
        .join('\n')
        .trimEnd(),
    });
  }
  return blocks;
}

function describeMessage(message: RaftMessage): string {
  const head = `${message.from}->${message.to} ${message.type} term=${message.term}`;
  switch (message.type) {
    case 'RequestVote':
      return `${head}${message.preVote ? ' pre' : ''}${message.transfer ? ' transfer' : ''} last=${message.lastLogIndex}/${message.lastLogTerm}`;
    case 'RequestVoteResponse':
      return `${head}${message.preVote ? ' pre' : ''} ${message.granted ? 'granted' : 'refused'}`;
    case 'AppendEntries': {
      const entries = message.entries.map((entry) => `${entry.index}/${entry.term}`).join(' ');
      return `${head} prev=${message.prevLogIndex}/${message.prevLogTerm} entries=[${entries}] commit=${message.leaderCommit}`;
    }
    case 'AppendEntriesResponse':
      return message.success
        ? `${head} match=${message.matchIndex}`
        : `${head} reject=${message.rejectedIndex ?? '-'} hint=${message.conflictIndex ?? '-'}/${message.conflictTerm ?? '-'}`;
    case 'Heartbeat':
      return `${head} commit=${message.leaderCommit}${message.readContext === undefined ? '' : ` read=${message.readContext}`}`;
    case 'HeartbeatResponse':
      return `${head}${message.readContext === undefined ? '' : ` read=${message.readContext}`}`;
    case 'ReadIndex':
      return `${head} read=${message.context}`;
    case 'ReadIndexResponse':
      return `${head} read=${message.context} index=${message.index ?? '-'}`;
    case 'Propose':
      return `${head} entries=${message.entries.length}`;
    case 'TimeoutNow':
      return head;
    case 'InstallSnapshot':
      return `${head} snapshot=${message.lastIncludedIndex}/${message.lastIncludedTerm}`;
    case 'InstallSnapshotResponse':
      return `${head} snapshot=${message.lastIncludedIndex} ${message.success ? 'ok' : 'failed'}`;
  }
}

function describeResult(result: StepResult | undefined): string {
  return result === undefined || result.ok ? '' : ` (refused: ${result.code})`;
}

/** Replays one script and returns its transcript in the same format as the file. */
class Runner {
  private network: TestNetwork | undefined;
  private lines: string[] = [];
  private readonly roles = new Map<string, string>();

  run(command: string): string {
    this.lines = [];
    const [verb = '', ...args] = command.split(/\s+/);
    this.execute(verb, args);
    this.noteRoleChanges();
    return this.lines.length === 0 ? 'ok' : this.lines.join('\n');
  }

  private get net(): TestNetwork {
    if (this.network === undefined) throw new Error('start the script with `cluster <ids...>`');
    return this.network;
  }

  private execute(verb: string, args: string[]): void {
    const [first = '', second = ''] = args;
    switch (verb) {
      case 'cluster':
        this.start(args);
        return;
      case 'campaign':
        this.net.core(first).campaign();
        this.noteRoleChanges();
        this.net.stabilize();
        return;
      case 'propose':
        this.lines.push(
          `result: ${JSON.stringify(this.net.core(first).propose(new TextEncoder().encode(second)))}`,
        );
        this.net.stabilize();
        return;
      case 'read':
        this.lines.push(`result: ${JSON.stringify(this.net.core(first).readIndex(second))}`);
        this.net.stabilize();
        this.lines.push(
          `read states at ${first}: ${JSON.stringify(this.net.node(first).readStates)}`,
        );
        return;
      case 'transfer':
        this.lines.push(
          `result: ${JSON.stringify(this.net.core(first).transferLeadership(second))}`,
        );
        this.net.stabilize();
        return;
      case 'tick':
        this.tickQuietly(first, Number(second));
        return;
      case 'tick-traced':
        this.net.tick(first);
        return;
      case 'isolate':
        this.net.isolate(first);
        return;
      case 'recover':
        this.net.recover();
        return;
      case 'status':
        this.status();
        return;
      case 'log':
        this.log(first);
        return;
      default:
        throw new Error(`unknown command ${verb}`);
    }
  }

  private start(ids: string[]): void {
    this.network = new TestNetwork({ ids });
    this.network.observer = ({ message, dropped, result }) => {
      this.lines.push(
        `${describeMessage(message)}${dropped ? ' DROPPED' : describeResult(result)}`,
      );
      this.noteRoleChanges();
    };
    for (const id of ids) this.roles.set(id, 'follower term 0');
  }

  /** Ticks without tracing every heartbeat: only role changes are reported, by tick. */
  private tickQuietly(who: string, times: number): void {
    const observer = this.net.observer;
    this.net.observer = undefined;
    for (let tick = 1; tick <= times; tick++) {
      this.net.tick(who === 'all' ? undefined : who);
      const before = this.lines.length;
      this.noteRoleChanges();
      for (let i = before; i < this.lines.length; i++)
        this.lines[i] = `tick ${tick}: ${this.lines[i]}`;
    }
    this.net.observer = observer;
  }

  private noteRoleChanges(): void {
    if (this.network === undefined) return;
    for (const [id, node] of this.network.nodes) {
      const { role, term } = node.core.status();
      const now = `${role} term ${term}`;
      if (this.roles.get(id) !== now) {
        this.lines.push(`${id} became ${now}`);
        this.roles.set(id, now);
      }
    }
  }

  /** The node's stored log as index/term pairs. */
  private log(id: string): void {
    const storage = this.net.node(id).storage;
    const entries = storage.entries({ low: storage.firstIndex(), high: storage.lastIndex() + 1 });
    this.lines.push(`${id}: ${entries.map((entry) => `${entry.index}/${entry.term}`).join(' ')}`);
  }

  private status(): void {
    for (const [id, node] of this.net.nodes) {
      const s = node.core.status();
      this.lines.push(
        `${id}: ${s.role} term=${s.term} leader=${s.leaderId ?? '-'} commit=${s.commitIndex} applied=${s.appliedIndex} last=${s.lastIndex}`,
      );
    }
  }
}

function transcript(text: string): string {
  const runner = new Runner();
  return parse(text)
    .map((block) =>
      [...block.comments, block.command, '----', runner.run(block.command)].join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}

describe('transcripts', () => {
  const files = readdirSync(directory).filter((name) => name.endsWith('.txt'));

  it('has transcripts to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('replays %s exactly', (name) => {
    const path = new URL(name, directory);
    const text = readFileSync(path, 'utf8');
    const actual = transcript(text);
    if (process.env.UPDATE_TRANSCRIPTS === '1') writeFileSync(path, actual);
    expect(actual).toBe(text);
  });
});
