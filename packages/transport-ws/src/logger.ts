/**
 * The logging surface this package needs. Its argument order (fields first, then message) is
 * pino's, so a pino logger can be passed as is.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

function noop(): void {
  // Deliberately empty: the silent logger drops everything.
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** The default: warnings and errors go to stderr as one line each, the rest is dropped. */
export const consoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (fields, message) => {
    console.warn(line(fields, message));
  },
  error: (fields, message) => {
    console.error(line(fields, message));
  },
};

function line(fields: Record<string, unknown>, message: string): string {
  const extra = Object.keys(fields).length === 0 ? '' : ` ${safeJson(fields)}`;
  return `[distsync/transport-ws] ${message}${extra}`;
}

function safeJson(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields, (_key, value: unknown) =>
      value instanceof Error ? { name: value.name, message: value.message } : value,
    );
  } catch {
    return '{...}';
  }
}
