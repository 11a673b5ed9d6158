// Child processes the bench starts (cluster nodes): the testkit's process harness (each process
// the leader of its own group; cleanup on exit, on SIGINT/SIGTERM and, through its watchdog
// process, even when the bench itself is SIGKILLed, as tsx does to a child slow to answer a
// Ctrl-C), with the bench's names and defaults.
import {
  installSignalHandlers,
  logTail as testkitLogTail,
  makeTempDir as testkitMakeTempDir,
  stopGracefully as testkitStopGracefully,
  type ManagedProcess,
} from '@distsync/testkit';

export {
  cleanupAll,
  killHard,
  removeTempDir,
  runningProcessCount,
  startProcess,
  type ManagedProcess,
  type StartProcessOptions,
} from '@distsync/testkit';

/**
 * Installs the SIGINT and SIGTERM handlers once (the exit handler is installed by every start):
 * they stop everything the bench started and exit with 128 + the signal number.
 */
export function installCleanupHandlers(): void {
  installSignalHandlers(['SIGINT', 'SIGTERM'], 'stopping every process the bench started');
}

/** A fresh temp dir under the OS temp folder (`distsync-bench-<prefix>-*`), removed at cleanup. */
export function makeTempDir(prefix: string): string {
  return testkitMakeTempDir(prefix, 'bench');
}

/** SIGTERM, then SIGKILL of the group after `graceMs` (default 5 s: etcd and NATS flush). */
export function stopGracefully(target: ManagedProcess, graceMs = 5000): Promise<void> {
  return testkitStopGracefully(target, graceMs);
}

/** The last `lines` lines of a process's log, for error messages. */
export function logTail(target: ManagedProcess, lines = 15): string {
  return testkitLogTail(target, lines);
}
