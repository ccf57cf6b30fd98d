import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FoundResult } from '../core/output';
import type { CachedResult, ResultCache } from '../core/ports';

/** BatchWriteItem's limit. */
const WRITE_MAX_ITEMS = 25;

export interface ResultCacheOptions {
  /** Calls per BatchGetItem or BatchWriteItem, the retries of what DynamoDB left unprocessed included. */
  maxAttempts?: number;
  /** The first backoff before a retry of unprocessed items; doubled each time. */
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The item as stored: `result` is one string attribute, the result's JSON, not a map of one attribute per field.
 * The SDK marshals and the table validates, stores and returns every attribute on its own: on dynalite, 20,000
 * items as a map cost about a third more to write and read than as one string (docs/benchmarks-provider.md).
 */
interface StoredItem {
  cacheKey: string;
  result: string | FoundResult;
  cachedAt: string;
  expiresAt: number;
}

const toStored = (item: CachedResult): StoredItem => ({ ...item, result: JSON.stringify(item.result) });

/** The item read back; a map `result` (items written before it became a string) is taken as it is. */
function fromStored(item: StoredItem): CachedResult | undefined {
  if (typeof item.result !== 'string') return item as CachedResult;
  try {
    return { ...item, result: JSON.parse(item.result) as FoundResult };
  } catch {
    return undefined; // unreadable: a miss, paid for once more and rewritten
  }
}

/**
 * The result cache on its DynamoDB table (serverless/resources/cache.yml: key `cacheKey`, TTL on `expiresAt`).
 * Reads are eventually consistent (a result written a moment ago may be missed: it is paid for once more, never
 * wrong). Unprocessed keys and items are retried with a bounded, jittered backoff (4 calls: about 350 ms at most
 * with the defaults), then reported.
 */
export function dynamoResultCache(
  tableName: string,
  ddb: DynamoDBDocumentClient,
  opts: ResultCacheOptions = {},
): ResultCache {
  const maxAttempts = opts.maxAttempts ?? 4;
  const baseDelayMs = opts.baseDelayMs ?? 50;
  const sleep = opts.sleep ?? defaultSleep;
  const backoff = (attempt: number) => sleep(Math.round(baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2)));

  async function writeChunk(chunk: readonly CachedResult[]): Promise<number> {
    let requests: NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string] = chunk.map(
      (item) => ({ PutRequest: { Item: toStored(item) } }),
    );
    for (let attempt = 1; ; attempt++) {
      const res = await ddb.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
      const left = res.UnprocessedItems?.[tableName] ?? [];
      if (left.length === 0) return 0;
      if (attempt >= maxAttempts) return left.length;
      await backoff(attempt);
      requests = left;
    }
  }

  return {
    async getMany(keys) {
      if (keys.length === 0) return { items: [], unprocessed: 0 };
      if (keys.length > 100) throw new Error('BatchGetItem reads at most 100 keys');
      const items: CachedResult[] = [];
      let wanted: Record<string, unknown>[] = keys.map((cacheKey) => ({ cacheKey }));
      for (let attempt = 1; ; attempt++) {
        const res = await ddb.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: wanted } } }));
        for (const stored of res.Responses?.[tableName] ?? []) {
          const item = fromStored(stored as StoredItem);
          if (item) items.push(item);
        }
        const left = res.UnprocessedKeys?.[tableName]?.Keys ?? [];
        if (left.length === 0) return { items, unprocessed: 0 };
        if (attempt >= maxAttempts) return { items, unprocessed: left.length };
        await backoff(attempt);
        wanted = left;
      }
    },
    async putMany(items) {
      const chunks: CachedResult[][] = [];
      for (let i = 0; i < items.length; i += WRITE_MAX_ITEMS) chunks.push(items.slice(i, i + WRITE_MAX_ITEMS));
      const left = await Promise.all(chunks.map(writeChunk));
      return { unprocessed: left.reduce((a, b) => a + b, 0) };
    },
  };
}
