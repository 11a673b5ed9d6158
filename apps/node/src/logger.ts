// pino JSON lines; pretty (pino-pretty, in-process) when stdout is a terminal or when asked.
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { NodeConfig } from './config.js';

export type { Logger } from 'pino';

export function createLogger(config: Pick<NodeConfig, 'id' | 'logLevel' | 'logFormat'>): Logger {
  const usePretty =
    config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY);
  const options = { level: config.logLevel, base: { node: config.id } };
  if (!usePretty) return pino(options, pino.destination({ fd: 1, sync: true }));
  return pino(options, pretty({ colorize: true, sync: true, ignore: 'pid,hostname' }));
}
