// Node configuration: defaults < JSON file < DISTSYNC_* environment < command-line flags, all
// validated by one zod schema so a bad value names its field wherever it came from.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { NodeError } from './errors.js';

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Numbers arrive as strings from flags and env: turn digit strings into numbers, leave the rest. */
function integer(min: number, max: number): z.ZodType<number> {
  return z.preprocess(
    (value) => (typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value),
    z
      .number({ error: `expected an integer between ${min} and ${max}` })
      .int({ error: `expected an integer between ${min} and ${max}` })
      .min(min, { error: `expected an integer between ${min} and ${max}` })
      .max(max, { error: `expected an integer between ${min} and ${max}` }),
  );
}

/** A peer's base URL: `ws://`, `wss://`, `http://`, `https://` or a bare `host:port`. */
function normalizePeerUrl(raw: string): string {
  const url = /^[a-z]+:\/\//.test(raw) ? raw : `ws://${raw}`;
  return url.replace(/^http:/, 'ws:').replace(/^https:/, 'wss:');
}

/** `n2=host:port,n3=host:port` (flags, env) or an object (file). */
const PeersSchema = z.preprocess(
  (value) => {
    if (typeof value !== 'string') return value;
    const peers: Record<string, string> = {};
    for (const part of value.split(',').map((item) => item.trim())) {
      if (part === '') continue;
      const at = part.indexOf('=');
      if (at <= 0) return part; // not `id=url`: let the schema reject it with the field name
      peers[part.slice(0, at)] = part.slice(at + 1);
    }
    return peers;
  },
  z.record(
    z.string().regex(NODE_ID, { error: 'peer ids are 1-64 of A-Z a-z 0-9 . _ -' }),
    z
      .string({ error: 'expected id=url pairs separated by commas' })
      .min(1)
      .transform(normalizePeerUrl)
      .pipe(z.url({ protocol: /^wss?$/, error: 'expected a ws://, http:// or host:port URL' })),
    { error: 'expected id=url pairs separated by commas' },
  ),
);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const ConfigSchema = z
  .strictObject({
    id: z.string({ error: 'required: this node id' }).regex(NODE_ID, {
      error: 'expected 1-64 of A-Z a-z 0-9 . _ -',
    }),
    host: z.string().min(1).default('127.0.0.1'),
    port: integer(0, 65535).default(7401),
    advertise: z.url({ protocol: /^https?$/ }).optional(),
    peers: PeersSchema.default({}),
    dataDir: z.string().min(1).optional(),
    clusterId: z
      .string()
      .regex(/^[A-Za-z0-9._:@-]{1,128}$/)
      .default('distsync'),
    secret: z.string().min(16, { error: 'expected at least 16 characters' }).optional(),
    token: z.string().min(1).optional(),
    tlsCertFile: z.string().min(1).optional(),
    tlsKeyFile: z.string().min(1).optional(),
    tlsCaFile: z.string().min(1).optional(),
    tickMs: integer(1, 10_000).default(50),
    electionTicks: integer(2, 1000).default(10),
    maxBodyBytes: integer(1024, 64 * 1024 * 1024).default(1024 * 1024),
    requestTimeoutMs: integer(1, 600_000).default(5000),
    drainTimeoutMs: integer(0, 600_000).default(5000),
    snapshotEveryEntries: integer(1, 100_000_000).default(10_000),
    maxKeys: integer(1, 100_000_000).default(1_000_000),
    maxSessions: integer(1, 10_000_000).default(100_000),
    maxLocks: integer(1, 100_000_000).default(100_000),
    cacheMaxEntries: integer(1, 100_000_000).default(10_000),
    cacheMaxBytes: integer(1024, 1_099_511_627_776).default(64 * 1024 * 1024),
    redisUrl: z
      .url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' })
      .optional(),
    redisKeyPrefix: z.string().min(1).max(128).default('distsync:cache:'),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    logFormat: z.enum(['json', 'pretty', 'auto']).default('auto'),
    /** Test only: the /v1/debug/faults route may shift this node's clock and fail its disk. */
    faultInjection: z
      .preprocess(
        (value) =>
          typeof value === 'string' && /^(1|true|yes|on)$/i.test(value.trim())
            ? true
            : typeof value === 'string' && /^(0|false|no|off)$/i.test(value.trim())
              ? false
              : value,
        z.boolean({ error: 'expected true or false (1 or 0)' }),
      )
      .default(false),
  })
  .superRefine((config, ctx) => {
    if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [config.tlsCertFile === undefined ? 'tlsCertFile' : 'tlsKeyFile'],
        message: 'tlsCertFile and tlsKeyFile go together',
      });
    }
    if (config.tlsCaFile !== undefined && config.tlsCertFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tlsCaFile'],
        message: 'needs tlsCertFile and tlsKeyFile',
      });
    }
    if (Object.keys(config.peers).some((id) => id !== config.id) && config.secret === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message:
          'required when peers are configured (at least 16 characters, the same on every node)',
      });
    }
  });

export type ConfigInput = z.input<typeof ConfigSchema>;
type ParsedConfig = z.output<typeof ConfigSchema>;

/** A validated node configuration with every default filled in. */
export interface NodeConfig extends Omit<ParsedConfig, 'advertise' | 'dataDir'> {
  /** The URL clients and peers reach this node at (`http://host:port` by default). */
  readonly advertise: string;
  readonly dataDir: string;
}

/** Every config key with its flag and environment variable, for the CLI and the README. */
export const CONFIG_KEYS: readonly (keyof ParsedConfig)[] = [
  'id',
  'host',
  'port',
  'advertise',
  'peers',
  'dataDir',
  'clusterId',
  'secret',
  'token',
  'tlsCertFile',
  'tlsKeyFile',
  'tlsCaFile',
  'tickMs',
  'electionTicks',
  'maxBodyBytes',
  'requestTimeoutMs',
  'drainTimeoutMs',
  'snapshotEveryEntries',
  'maxKeys',
  'maxSessions',
  'maxLocks',
  'cacheMaxEntries',
  'cacheMaxBytes',
  'redisUrl',
  'redisKeyPrefix',
  'logLevel',
  'logFormat',
  'faultInjection',
];

/** `dataDir` -> `DISTSYNC_DATA_DIR`. */
export function envNameOf(key: string): string {
  return `DISTSYNC_${key.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

/** `dataDir` -> `--data-dir`. */
export function flagNameOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

function fromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const values: Record<string, string> = {};
  for (const key of CONFIG_KEYS) {
    const value = env[envNameOf(key)];
    if (value !== undefined && value !== '') values[key] = value;
  }
  return values;
}

function fromFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new NodeError('CONFIG_INVALID', `config: cannot read ${path}: ${String(error)}`, {
      field: 'config',
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new NodeError('CONFIG_INVALID', `config: ${path} is not valid JSON: ${String(error)}`, {
      field: 'config',
      cause: error,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new NodeError('CONFIG_INVALID', `config: ${path} must hold a JSON object`, {
      field: 'config',
    });
  }
  return parsed as Record<string, unknown>;
}

export interface ConfigSources {
  /** Values from command-line flags (already camelCased by the CLI); undefined ones are ignored. */
  readonly flags?: Readonly<Record<string, unknown>>;
  readonly env?: NodeJS.ProcessEnv;
  /** A JSON file path; else `DISTSYNC_CONFIG` from `env`. */
  readonly file?: string;
}

function withoutUndefined(values: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

function describe(issue: z.core.$ZodIssue, input: Record<string, unknown>): string {
  const field = issue.path.map(String).join('.') || 'config';
  const top = issue.path[0];
  const got = typeof top === 'string' && top in input ? ` (got ${JSON.stringify(input[top])})` : '';
  const hint =
    typeof top === 'string' && (CONFIG_KEYS as readonly string[]).includes(top)
      ? ` [flag ${flagNameOf(top)}, env ${envNameOf(top)}]`
      : '';
  return `${field}: ${issue.message}${got}${hint}`;
}

/**
 * Merges and validates the sources. Throws NodeError CONFIG_INVALID whose message starts with
 * the field at fault (`port: expected an integer between 0 and 65535 (got "abc")`).
 */
export function loadConfig(sources: ConfigSources = {}): NodeConfig {
  const env = sources.env ?? {};
  const file = sources.file ?? env.DISTSYNC_CONFIG;
  const input = {
    ...(file === undefined || file === '' ? {} : fromFile(file)),
    ...fromEnv(env),
    ...withoutUndefined(sources.flags ?? {}),
  };
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const message = issue === undefined ? 'config: invalid' : describe(issue, input);
    throw new NodeError('CONFIG_INVALID', message, {
      field: issue?.path.map(String).join('.') ?? 'config',
      cause: parsed.error,
    });
  }
  const config = parsed.data;
  const tls = config.tlsCertFile !== undefined;
  // A TLS node talks TLS to its peers too: one cluster, one scheme.
  const peers = Object.fromEntries(
    Object.entries(config.peers)
      .filter(([id]) => id !== config.id)
      .map(([id, url]) => [id, tls ? url.replace(/^ws:/, 'wss:') : url]),
  );
  const advertiseHost =
    config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return {
    ...config,
    peers,
    advertise: config.advertise ?? `${tls ? 'https' : 'http'}://${advertiseHost}:${config.port}`,
    dataDir: config.dataDir ?? join('.distsync', config.id),
  };
}
