// `distsync node`: run one node until SIGTERM/SIGINT, then drain and exit 0. A config error
// exits 2 naming the field; a storage or bind failure at start, or a fatal storage error while
// running, exits 1 with the cause.
import { loadConfig, type NodeConfig } from '../config.js';
import { NodeError } from '../errors.js';
import { createLogger } from '../logger.js';
import { startNode, type RunningNode } from '../server.js';

/** Exit codes of the CLI. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Extra time past drainTimeoutMs before a stuck drain is abandoned. */
const DRAIN_GRACE_MS = 5000;

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
  const code = 'code' in error && typeof error.code === 'string' ? `${error.code}: ` : '';
  return `${code}${error.message}${cause}`;
}

/** Loads the config or exits 2 with the message naming the field. */
export function configOrExit(flags: Record<string, unknown>, file: string | undefined): NodeConfig {
  try {
    return loadConfig({ flags, env: process.env, ...(file === undefined ? {} : { file }) });
  } catch (error) {
    if (error instanceof NodeError && error.code === 'CONFIG_INVALID') {
      process.stderr.write(`distsync: invalid configuration: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
}

export async function runNode(flags: Record<string, unknown>): Promise<void> {
  const { config: file, ...rest } = flags as { config?: string } & Record<string, unknown>;
  const config = configOrExit(rest, file);
  const logger = createLogger(config);
  let running: RunningNode | undefined;
  try {
    running = await startNode(config, {
      logger,
      onFatal: (error) => {
        process.stderr.write(`distsync: fatal storage error: ${describeError(error)}\n`);
        process.exit(EXIT_FAILURE);
      },
    });
  } catch (error) {
    if (error instanceof NodeError && error.code === 'CONFIG_INVALID') {
      process.stderr.write(`distsync: invalid configuration: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    logger.fatal({ err: error }, 'cannot start the node');
    process.stderr.write(`distsync: cannot start node ${config.id}: ${describeError(error)}\n`);
    process.exit(EXIT_FAILURE);
  }
  const node = running;
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    setTimeout(
      () => {
        logger.error({}, 'drain did not finish in time');
        process.exit(EXIT_FAILURE);
      },
      config.drainTimeoutMs * 2 + DRAIN_GRACE_MS,
    ).unref();
    node.drain().then(
      () => process.exit(EXIT_OK),
      (error: unknown) => {
        logger.error({ err: error }, 'drain failed');
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
