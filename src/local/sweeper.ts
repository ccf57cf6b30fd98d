import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type AttributeValue, BatchWriteItemCommand, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Logger } from '../logger';
import type { ExpireItems } from './dynalite';
import type { Doc, ServerlessConfig } from './serverlessConfig';

/**
 * The deployed stack's expiry, on a local clock. On AWS the bucket's lifecycle rules delete objects some days after
 * their creation and DynamoDB's TTL deletes items whose TTL attribute is past; the emulators do neither (fauxqs keeps
 * every object in memory, dynalite never expires an item), so offline nothing would ever go. The offline stack runs
 * this sweep every minute, the rules read from serverless.yml's resources: an object older than the local TTL under a
 * prefix a lifecycle rule covers is deleted (through the ordinary SDK, with the stack's own credentials), as is an
 * item whose TTL attribute (epoch seconds) is past (inside dynalite where the stack runs it, else through the SDK).
 */

/** A bucket and the key prefixes its enabled lifecycle expiration rules cover ('' for a rule without a filter). */
export interface SweptBucket {
  name: string;
  prefixes: string[];
}

/** A table with TTL on, its key attributes and its TTL attribute. */
export interface SweptTable {
  name: string;
  keys: string[];
  ttlAttribute: string;
}

export interface SweepTargets {
  buckets: SweptBucket[];
  tables: SweptTable[];
}

export interface SweepDeps {
  s3: S3Client;
  ddb: DynamoDBClient;
  /** Objects older than this are expired (the lifecycle rule's `ExpirationInDays`, on the local clock). */
  ttlMinutes: number;
  now: () => Date;
  log?: Logger;
  /**
   * Deletes a table's expired items inside the emulator, as DynamoDB's TTL does (Emulators.expireItems); without it,
   * a Scan of the whole table and BatchWriteItem through `ddb`.
   */
  expireItems?: ExpireItems;
}

export interface SweepReport {
  objects: number;
  items: number;
}

/** What the lifecycle rules and the tables' TTL of serverless.yml's resources cover. */
export function sweepTargets(sls: ServerlessConfig): SweepTargets {
  const buckets: SweptBucket[] = [];
  const tables: SweptTable[] = [];
  for (const resource of Object.values<Doc>(sls.resources())) {
    const props = sls.resolve(resource.Properties ?? {}) as Doc;
    if (resource.Type === 'AWS::S3::Bucket') {
      const rules = ((props.LifecycleConfiguration?.Rules ?? []) as Doc[]).filter(
        (r) => r.Status === 'Enabled' && (r.ExpirationInDays !== undefined || r.ExpirationDate !== undefined),
      );
      const prefixes = rules.map((r) => String(r.Prefix ?? r.Filter?.Prefix ?? ''));
      if (prefixes.length) buckets.push({ name: props.BucketName, prefixes: coveringPrefixes(prefixes) });
    }
    if (resource.Type === 'AWS::DynamoDB::Table' && props.TimeToLiveSpecification?.Enabled) {
      tables.push({
        name: props.TableName,
        keys: (props.KeySchema as Doc[]).map((k) => k.AttributeName),
        ttlAttribute: props.TimeToLiveSpecification.AttributeName,
      });
    }
  }
  return { buckets, tables };
}

/** The prefixes with those inside another left out ('' covers every key). */
function coveringPrefixes(prefixes: string[]): string[] {
  const sorted = [...new Set(prefixes)].sort();
  return sorted.filter((p, i) => !sorted.slice(0, i).some((q) => p.startsWith(q)));
}

/** BatchWriteItem calls in flight, and the most deletes one takes. */
const DELETE_CONCURRENCY = 4;
const BATCH_WRITE_MAX = 25;

/**
 * Deletes these items (BatchWriteItem, unprocessed ones sent again). Unconditional, unlike DynamoDB's TTL, which
 * checks the item is still expired: an item renewed between the scan and the delete (a result cached again) is lost,
 * which costs one provider call more, never a wrong answer.
 */
async function deleteItems(table: string, keys: Record<string, AttributeValue>[], deps: SweepDeps): Promise<number> {
  let pending = keys.map((Key) => ({ DeleteRequest: { Key } }));
  for (let attempt = 0; pending.length && attempt < 10; attempt++) {
    const res = await deps.ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
    pending = (res.UnprocessedItems?.[table] ?? []) as typeof pending;
  }
  return keys.length - pending.length;
}

/** One pass: every expired object and item deleted. */
export async function sweepOnce(targets: SweepTargets, deps: SweepDeps): Promise<SweepReport> {
  const now = deps.now();
  const report: SweepReport = { objects: 0, items: 0 };
  const before = new Date(now.getTime() - deps.ttlMinutes * 60_000);
  for (const bucket of targets.buckets)
    for (const prefix of bucket.prefixes) report.objects += await sweepObjects(bucket.name, prefix, before, deps);
  const nowSeconds = Math.floor(now.getTime() / 1000);
  for (const table of targets.tables)
    report.items += await (deps.expireItems
      ? deps.expireItems(table, nowSeconds)
      : sweepItems(table, nowSeconds, deps));
  return report;
}

async function sweepObjects(bucket: string, prefix: string, before: Date, deps: SweepDeps): Promise<number> {
  let deleted = 0;
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }),
    );
    const expired = (page.Contents ?? [])
      .filter((o) => o.Key && o.LastModified && o.LastModified <= before)
      .map((o) => ({ Key: o.Key! }));
    if (expired.length) {
      const res = await deps.s3.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: expired, Quiet: true },
          ChecksumAlgorithm: 'CRC32',
        }),
      );
      deleted += expired.length - (res.Errors?.length ?? 0);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return deleted;
}

async function sweepItems(table: SweptTable, nowSeconds: number, deps: SweepDeps): Promise<number> {
  let deleted = 0;
  let start: Record<string, AttributeValue> | undefined;
  const names = Object.fromEntries(table.keys.map((k, i) => [`#k${i}`, k]));
  do {
    const page = await deps.ddb.send(
      new ScanCommand({
        TableName: table.name,
        FilterExpression: '#ttl <= :now',
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: { ...names, '#ttl': table.ttlAttribute },
        ExpressionAttributeValues: { ':now': { N: String(nowSeconds) } },
        ExclusiveStartKey: start,
      }),
    );
    const items = page.Items ?? [];
    const chunks: Record<string, AttributeValue>[][] = [];
    for (let i = 0; i < items.length; i += BATCH_WRITE_MAX) chunks.push(items.slice(i, i + BATCH_WRITE_MAX));
    // A few BatchWriteItem calls at once: under load, expired items (cache items above all) come by the ten thousand.
    await Promise.all(
      Array.from({ length: Math.min(DELETE_CONCURRENCY, chunks.length) }, async () => {
        for (let chunk = chunks.shift(); chunk; chunk = chunks.shift()) {
          // Not `deleted += await …`: that reads `deleted` before the await, and the lanes' counts overwrite each other.
          const done = await deleteItems(table.name, chunk, deps);
          deleted += done;
        }
      }),
    );
    start = page.LastEvaluatedKey;
  } while (start);
  return deleted;
}

export interface Sweeper {
  stop(): Promise<void>;
}

/** Sweeps every `intervalMs` (one pass at a time) until stopped. */
export function startSweeper(targets: SweepTargets, deps: SweepDeps, intervalMs = 60_000): Sweeper {
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  let stopped = false;
  const tick = () => {
    if (busy) return;
    busy = true;
    const started = Date.now();
    running = sweepOnce(targets, deps)
      .then(
        (r) => {
          if (r.objects || r.items)
            deps.log?.info('local expiry: expired objects and items deleted', { ...r, ms: Date.now() - started });
        },
        (err) => deps.log?.warn('local expiry: a sweep failed; the next one tries again', { err }),
      )
      .finally(() => {
        busy = false;
      });
  };
  const timer = setInterval(() => {
    if (!stopped) tick();
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
