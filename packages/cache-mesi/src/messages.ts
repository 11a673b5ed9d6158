// Wire shapes, defined once: the directory's commands and queries (what the Raft log holds) and
// the node-level operations a CacheClient sends to a node (served by that node's NodeCache).
import { z } from 'zod';

export const KEY_LENGTH_MAX = 512;
export const TTL_MS_MAX = 30 * 86_400_000;
/** Items in one ack, release or written command (batches are split above this). */
export const BATCH_ITEMS_MAX = 1024;
/** Keys in one getMany or setMany. */
export const MANY_KEYS_MAX = 1000;

export const CacheKeySchema = z.string().min(1).max(KEY_LENGTH_MAX);
/** `node:<nodeId>` for a node's cache, `session:<sessionId>` for a near cache. */
export const HolderIdSchema = z.string().regex(/^(node|session):\S{1,128}$/);
export const SessionHolderIdSchema = z.string().regex(/^session:\S{1,128}$/);
export const TtlMsSchema = z.number().int().min(1).max(TTL_MS_MAX);
export const VersionSchema = z.number().int().min(0);
export const JsonValueSchema = z.json();

export type JsonValue = z.infer<typeof JsonValueSchema>;
export type LineState = 'M' | 'E' | 'S' | 'I';

const KeyVersion = z.strictObject({ key: CacheKeySchema, version: VersionSchema });
const KeyRegistration = z.strictObject({ key: CacheKeySchema, registration: VersionSchema });

function holderCommands<H extends z.ZodString>(holder: H) {
  return [
    z.strictObject({ op: z.literal('read'), key: CacheKeySchema, holder }),
    z.strictObject({
      op: z.literal('fill'),
      key: CacheKeySchema,
      holder,
      found: z.boolean(),
      value: JsonValueSchema.optional(),
      ttlMs: TtlMsSchema.optional(),
    }),
    z.strictObject({
      op: z.literal('write'),
      key: CacheKeySchema,
      holder,
      value: JsonValueSchema,
      ttlMs: TtlMsSchema.optional(),
      basis: VersionSchema.optional(),
    }),
    z.strictObject({
      op: z.literal('remove'),
      key: CacheKeySchema,
      holder,
      basis: VersionSchema.optional(),
    }),
    z.strictObject({
      op: z.literal('ack'),
      holder,
      items: z.array(KeyVersion).min(1).max(BATCH_ITEMS_MAX),
    }),
    z.strictObject({
      op: z.literal('release'),
      holder,
      items: z.array(KeyRegistration).min(1).max(BATCH_ITEMS_MAX),
    }),
    z.strictObject({ op: z.literal('renew'), holder }),
  ] as const;
}

/** Everything the directory's log may hold. */
export const DirectoryCommandSchema = z.discriminatedUnion('op', [
  ...holderCommands(HolderIdSchema),
  z.strictObject({
    op: z.literal('written'),
    items: z.array(KeyVersion).min(1).max(BATCH_ITEMS_MAX),
  }),
  z.strictObject({ op: z.literal('tick'), nowMs: z.number() }),
]);
export type DirectoryCommand = z.infer<typeof DirectoryCommandSchema>;

/** The directory commands a near cache may send over /client: only as a session holder. */
export const SessionHolderCommandSchema = z.discriminatedUnion('op', [
  ...holderCommands(SessionHolderIdSchema),
]);

export const DirectoryQuerySchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('entry'), key: CacheKeySchema }),
  z.strictObject({ op: z.literal('settled'), key: CacheKeySchema, version: VersionSchema }),
  z.strictObject({
    op: z.literal('dirty'),
    limit: z.number().int().min(1).max(BATCH_ITEMS_MAX),
  }),
  z.strictObject({ op: z.literal('holder'), holder: HolderIdSchema }),
  z.strictObject({ op: z.literal('count') }),
]);
export type DirectoryQuery = z.infer<typeof DirectoryQuerySchema>;

/** Node-level commands: served by the receiving node's NodeCache (it is the holder). */
export const NodeCommandSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('set'),
    key: CacheKeySchema,
    value: JsonValueSchema,
    ttlMs: TtlMsSchema.optional(),
  }),
  z.strictObject({ op: z.literal('delete'), key: CacheKeySchema }),
  z.strictObject({
    op: z.literal('setMany'),
    entries: z
      .array(
        z.strictObject({
          key: CacheKeySchema,
          value: JsonValueSchema,
          ttlMs: TtlMsSchema.optional(),
        }),
      )
      .min(1)
      .max(MANY_KEYS_MAX),
  }),
]);
export type NodeCommand = z.infer<typeof NodeCommandSchema>;

/** Node-level queries: a `get` is answered from the receiving node's cache when it hits. */
export const NodeQuerySchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('get'), key: CacheKeySchema }),
  z.strictObject({
    op: z.literal('getMany'),
    keys: z.array(CacheKeySchema).min(1).max(MANY_KEYS_MAX),
  }),
  z.strictObject({ op: z.literal('states'), key: CacheKeySchema }),
  z.strictObject({ op: z.literal('stats') }),
]);
export type NodeQuery = z.infer<typeof NodeQuerySchema>;

/** What a directory replica tells the caches that live beside it, as it applies entries. */
export type DirectoryEvent =
  | {
      readonly type: 'invalidate';
      readonly holder: string;
      readonly key: string;
      readonly version: number;
    }
  | { readonly type: 'downgrade'; readonly holder: string; readonly key: string }
  | { readonly type: 'settled'; readonly key: string; readonly version: number }
  | { readonly type: 'dropped'; readonly holder: string; readonly incarnation: number };

export const DirectoryEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('invalidate'),
    holder: z.string(),
    key: z.string(),
    version: z.number(),
  }),
  z.object({ type: z.literal('downgrade'), holder: z.string(), key: z.string() }),
  z.object({ type: z.literal('settled'), key: z.string(), version: z.number() }),
  z.object({ type: z.literal('dropped'), holder: z.string(), incarnation: z.number() }),
]);
