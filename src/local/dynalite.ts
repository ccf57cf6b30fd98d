import type { Server } from 'node:http';

/** The parts of dynalite 4's store (dynalite/db) used here. */
interface DynaliteStore {
  /** Its level database: a table's items under `item-<table>~<dynalite's key>`, as JSON. */
  db: {
    keys(options?: object): LevelIterator;
    values(options?: object): LevelIterator;
    iterator(options?: object): LevelIterator & { nextv(size: number): Promise<[string, Item][]> };
    getMany(keys: string[]): Promise<(Item | undefined)[]>;
    batch(operations: { type: 'del'; key: string }[]): Promise<void>;
  };
  /** A table's items; `lock` takes dynalite's item locks (its writes hold one from their read to their write). */
  getItemDb(table: string): { lock(keys: string[], exec: (release: Releaser) => void): void };
  /** A table's description; `checkStatus` (true when omitted) answers "not found" for a table being created or deleted. */
  getTable(name: string, cb: TableCallback): void;
  getTable(name: string, checkStatus: boolean, cb: TableCallback): void;
  /** The table descriptions, by name: every change to one (CreateTable, UpdateTable, DeleteTable) is a put or del here. */
  tableDb: { put(name: string, ...rest: unknown[]): unknown; del(name: string, ...rest: unknown[]): unknown };
}
type TableCallback = (err: Error | null, table?: TableDescription) => void;
type Releaser = (done: () => void) => () => void;
interface TableDescription {
  TableStatus?: string;
  GlobalSecondaryIndexes?: unknown[];
  LocalSecondaryIndexes?: unknown[];
}
interface LevelIterator {
  close(): Promise<void>;
  return?: () => Promise<void>;
}
type Item = Record<string, { N?: string } | undefined>;
type DeleteItemAction = (
  store: DynaliteStore,
  data: object,
  cb: (err: { body?: { __type?: string } } | null) => void,
) => void;

/** A table's name, key attributes and TTL attribute. */
export type ExpireItems = (
  table: { name: string; keys: string[]; ttlAttribute: string },
  nowSeconds: number,
) => Promise<number>;

/**
 * Item operations reuse a table's description until the table changes. dynalite reads it from its level database
 * and decodes its JSON for every item (each of a BatchWriteItem's 25 puts, each of a BatchGetItem's 100 keys): 30%
 * of its CPU in the result cache's calls. A table being created or deleted is never kept (that read answers "not
 * found"), and the reads that take any status (DescribeTable, UpdateTable, DeleteTable) still read it.
 */
function rememberTables(store: DynaliteStore): void {
  const kept = new Map<string, TableDescription>();
  let changes = 0;
  for (const method of ['put', 'del'] as const) {
    const change = store.tableDb[method].bind(store.tableDb);
    store.tableDb[method] = (name, ...rest) => {
      changes++;
      kept.delete(name);
      return change(name, ...rest);
    };
  }
  const read = store.getTable.bind(store) as (name: string, checkStatus: boolean, cb: TableCallback) => void;
  store.getTable = (name: string, checkStatus: boolean | TableCallback, cb?: TableCallback) => {
    const done = typeof checkStatus === 'function' ? checkStatus : (cb as TableCallback);
    if (checkStatus === false) return read(name, false, done);
    const known = kept.get(name);
    if (known) return process.nextTick(done, null, known);
    const before = changes;
    read(name, true, (err, table) => {
      // Not kept if the table changed while it was read: the description may be the one before.
      if (!err && table && changes === before) kept.set(name, table);
      done(err, table);
    });
  };
}

/** Items read from the store at a time. */
const PAGE = 1000;

/**
 * dynalite, with two changes reached through its store (caught as dynalite creates it: neither is in its API).
 *
 * Its reads are closed once done. A Scan or Query reads through an iterator of the in-memory level database, and an
 * iterator reads a snapshot: every item as it was when it opened, deleted or overwritten since or not. dynalite 4.0.0
 * never closes one (its stream's destroy calls the iterator's `return()`, which level iterators lack), so each Scan
 * or Query page held a whole snapshot for good, and nothing deleted or overwritten after the first was ever freed.
 *
 * Expired items can be deleted inside it (`expireItems`), as DynamoDB's TTL deletes them: no API call, and only an
 * item still expired when deleted (one renewed meanwhile stays). Through the API, a Scan of the whole table and
 * BatchWriteItem, a sweep took 42-122 s in a soak (docs/benchmarks-memory.md).
 */
export function startDynalite(options: object): { server: Server; openReads(): number; expireItems: ExpireItems } {
  const storeModule = require('dynalite/db') as { create(o: object): DynaliteStore };
  const deleteItem = require('dynalite/actions/deleteItem') as DeleteItemAction;
  const create = storeModule.create;
  let caught: DynaliteStore | undefined;
  storeModule.create = (o) => (caught = create(o));
  let server: Server;
  try {
    server = (require('dynalite') as (o: object) => Server)(options);
  } finally {
    storeModule.create = create;
  }
  if (!caught) throw new Error('dynalite did not create its store through dynalite/db: its reads cannot be closed');
  const store = caught;
  rememberTables(store);
  const reads = new Set<LevelIterator>();
  const tracked = <T extends LevelIterator>(iterator: T): T => {
    reads.add(iterator);
    const close = iterator.close.bind(iterator);
    iterator.close = () => {
      reads.delete(iterator);
      return close();
    };
    iterator.return ??= () => iterator.close();
    return iterator;
  };
  for (const method of ['keys', 'values'] as const) {
    const open = store.db[method].bind(store.db);
    store.db[method] = (o) => tracked(open(o));
  }

  const expiredBy = (ttlAttribute: string, nowSeconds: number) => (item: Item | undefined) => {
    const at = item?.[ttlAttribute]?.N;
    return at !== undefined && Number(at) <= nowSeconds;
  };

  /** A table with secondary indexes: each item through dynalite's DeleteItem (its index entries go too), conditional. */
  const deleteEach = (name: string, keys: Item[], ttlAttribute: string, nowSeconds: number) =>
    Promise.all(
      keys.map(
        (Key) =>
          new Promise<number>((resolve, reject) => {
            const still = { ComparisonOperator: 'LE', AttributeValueList: [{ N: String(nowSeconds) }] };
            deleteItem(store, { TableName: name, Key, Expected: { [ttlAttribute]: still } }, (err) => {
              if (!err) resolve(1);
              else if (/ConditionalCheckFailed/.test(err.body?.__type ?? ''))
                resolve(0); // renewed meanwhile
              else reject(err);
            });
          }),
      ),
    ).then((done) => done.reduce((a, b) => a + b, 0));

  /**
   * A table without: the page's items locked as dynalite's writes lock them, read again, and those still expired
   * deleted in one batch (one DeleteItem each costs several turns of the event loop every emulator shares).
   */
  const deleteLocked = (name: string, prefix: string, storeKeys: string[], ttlAttribute: string, nowSeconds: number) =>
    new Promise<number>((resolve, reject) => {
      const keys = storeKeys.map((k) => k.slice(prefix.length));
      store.getItemDb(name).lock(keys, (release) => {
        const unlock = release(() => {});
        store.db
          .getMany(storeKeys)
          .then(async (items) => {
            const still = storeKeys.filter((_, i) => expiredBy(ttlAttribute, nowSeconds)(items[i]));
            await store.db.batch(still.map((key) => ({ type: 'del', key })));
            return still.length;
          })
          .then(
            (n) => {
              unlock();
              resolve(n);
            },
            (err: unknown) => {
              unlock();
              reject(err);
            },
          );
      });
    });

  const expireItems: ExpireItems = async (table, nowSeconds) => {
    const description = await new Promise<TableDescription>((resolve, reject) =>
      store.getTable(table.name, (err, t) => (err || !t ? reject(err) : resolve(t))),
    );
    const indexed = Boolean(description.GlobalSecondaryIndexes?.length || description.LocalSecondaryIndexes?.length);
    const expired = expiredBy(table.ttlAttribute, nowSeconds);
    const prefix = `item-${table.name}~`;
    const iterator = tracked(store.db.iterator({ gte: prefix, lt: `${prefix}\xff` }));
    let deleted = 0;
    // A page's deletes run while the next page is read.
    let previous: Promise<number> = Promise.resolve(0);
    try {
      for (let page = await iterator.nextv(PAGE); page.length; page = await iterator.nextv(PAGE)) {
        const due = page.filter(([, item]) => expired(item));
        deleted += await previous;
        previous = !due.length
          ? Promise.resolve(0)
          : indexed
            ? deleteEach(
                table.name,
                due.map(([, item]) => Object.fromEntries(table.keys.map((k) => [k, item[k]]))),
                table.ttlAttribute,
                nowSeconds,
              )
            : deleteLocked(
                table.name,
                prefix,
                due.map(([key]) => key),
                table.ttlAttribute,
                nowSeconds,
              );
        previous.catch(() => {}); // awaited after the next read; meanwhile not an unhandled rejection
      }
      deleted += await previous;
    } finally {
      await iterator.close();
    }
    return deleted;
  };
  return { server, openReads: () => reads.size, expireItems };
}
