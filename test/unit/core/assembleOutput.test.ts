import { assembleOutput } from '../../../src/core/assembleOutput';
import { failedRow, type BatchResult } from '../../../src/core/output';
import { freshProgress } from '../../../src/core/enrichBatch';
import { failBatch, processBatch } from '../../../src/core/processBatch';
import { keys } from '../../../src/core/status';
import { expectCsvMatches, expectOutput, parseNdjson, type OutputDoc, csvColumns } from '../../support/output';
import { crashOnceAt } from '../../support/fakes';
import { FIELDS, REQUEST_ID, seededRequest } from '../../support/workerHarness';

/** A request whose batches are all stored and counted, but whose output was never assembled. */
async function recordedButNotAssembled(n: number, batchSize = 100) {
  const h = await seededRequest(n, { batchSize });
  const last = h.messages.length - 1;
  const crash = crashOnceAt('worker:after-record', (ctx) => ctx.batchIndex === last);
  for (const m of h.messages.slice(0, last)) await processBatch(m, h.worker());
  await expect(processBatch(h.messages[last], h.worker(crash))).rejects.toThrow(/crash/);
  expect(h.status.only()).toMatchObject({ status: 'processing', processedBatches: h.messages.length });
  return h;
}

describe('assembleOutput', () => {
  it('builds output.json and finalizes; a second run changes nothing', async () => {
    const h = await recordedButNotAssembled(350);
    expect(await assembleOutput(REQUEST_ID, h.worker())).toBe('finalized');
    const first = h.store.text(keys.output(REQUEST_ID));
    const record = h.status.only();
    expectOutput(JSON.parse(first!), { contacts: h.contacts, fields: FIELDS });

    expect(await assembleOutput(REQUEST_ID, h.worker())).toBe('already-final');
    expect(h.store.text(keys.output(REQUEST_ID))).toBe(first);
    expect(h.status.only()).toEqual(record);
  });

  it('lets exactly one of several concurrent runs finalize, all writing the same output', async () => {
    const h = await recordedButNotAssembled(350);
    const outcomes = await Promise.all([1, 2, 3].map(() => assembleOutput(REQUEST_ID, h.worker())));
    expect(outcomes.filter((o) => o === 'finalized')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'already-final')).toHaveLength(2);
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
    expect(h.status.only().status).toBe('completed');
  });

  it('does nothing for unknown or incomplete requests', async () => {
    const h = await seededRequest(250);
    expect(await assembleOutput('00000000-0000-4000-8000-000000000000', h.worker())).toBe('unknown');
    await processBatch(h.messages[0], h.worker());
    expect(await assembleOutput(REQUEST_ID, h.worker())).toBe('incomplete');
    expect(h.store.json(keys.output(REQUEST_ID)).enriched_contacts).toEqual([]); // placeholder kept
    expect(h.status.only().status).toBe('processing');
  });

  it('fails loudly, leaving the request processing, when a recorded batch has no stored result', async () => {
    const h = await recordedButNotAssembled(250);
    h.store.objects.delete(keys.batch(REQUEST_ID, 1));
    await expect(assembleOutput(REQUEST_ID, h.worker())).rejects.toThrow(/batch 1 .* has no stored result/);
    expect(h.status.only().status).toBe('processing');
  });

  it('can be run again after a crash midway', async () => {
    const h = await recordedButNotAssembled(450);
    await expect(assembleOutput(REQUEST_ID, h.worker(crashOnceAt('assembly:midway')))).rejects.toThrow(/crash/);
    expect(h.status.only().status).toBe('processing');
    expect(await assembleOutput(REQUEST_ID, h.worker())).toBe('finalized');
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('prefers a worker result over a failure record for the same batch', async () => {
    const h = await seededRequest(150);
    await processBatch(h.messages[0], h.worker());
    // The DLQ handler wrote a failure record for batch 1, then a late worker result appeared before assembly.
    await failBatch(h.messages[1], 'dlq', { ...h.worker(), faults: crashOnceAt('worker:after-record') }).catch(
      () => undefined,
    );
    await h.store.putJson(keys.batch(REQUEST_ID, 1), {
      requestId: REQUEST_ID,
      batchIndex: 1,
      rows: h.contacts
        .slice(100)
        .map((c) => ({ ...c, professional_email: 'late@x.io', personal_phone: null, enrichment_status: 'enriched' })),
    });
    expect(await assembleOutput(REQUEST_ID, h.worker())).toBe('finalized');
    const doc = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!;
    expect(doc.enriched_contacts[120].professional_email).toBe('late@x.io');
    expect(doc.summary.failed).toBe(0);
  });

  it('reads at most `prefetch` batch results ahead of the writer', async () => {
    const h = await recordedButNotAssembled(2_000);
    let inFlight = 0;
    let peak = 0;
    const getJson = h.store.getJson.bind(h.store);
    h.store.getJson = async <T>(key: string) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight -= 1;
      return getJson<T>(key);
    };
    expect(await assembleOutput(REQUEST_ID, { ...h.worker(), prefetch: 3 })).toBe('finalized');
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
  });

  it('sets the final status from the rows it wrote', async () => {
    const h = await seededRequest(200);
    await processBatch(h.messages[0], h.worker());
    await h.store.putJson(keys.failedBatch(REQUEST_ID, 1), {
      requestId: REQUEST_ID,
      batchIndex: 1,
      rows: h.contacts.slice(100).map((c) => failedRow(c, FIELDS, 'x')),
    });
    await h.status.recordBatch(REQUEST_ID, 1, 'failed', new Date().toISOString());
    expect(await assembleOutput(REQUEST_ID, h.worker())).toBe('finalized');
    const record = h.status.only();
    expect(record.status).toBe('completed_with_errors');
    expect(record.failedContacts).toBe(100);
    expect((record.enrichedContacts ?? 0) + (record.notFoundContacts ?? 0)).toBe(100);
  });

  describe('NDJSON and CSV beside JSON', () => {
    it('writes the same rows in the same order in all three, reading each batch result once', async () => {
      const h = await recordedButNotAssembled(450, 50);
      const reads = new Map<string, number>();
      const getJson = h.store.getJson.bind(h.store);
      h.store.getJson = async <T>(key: string) => {
        reads.set(key, (reads.get(key) ?? 0) + 1);
        return getJson<T>(key);
      };
      expect(await assembleOutput(REQUEST_ID, h.worker())).toBe('finalized');
      expect([...reads.values()].every((n) => n === 1)).toBe(true);
      expect(reads.size).toBe(9);
      const rows = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!.enriched_contacts;
      expectOutput(h.store.json<OutputDoc>(keys.output(REQUEST_ID)), { contacts: h.contacts, fields: FIELDS });
      expect(parseNdjson(h.store.text(keys.outputNdjson(REQUEST_ID))!)).toEqual(rows);
      const fixed = csvColumns(FIELDS);
      expectCsvMatches(h.store.text(keys.outputCsv(REQUEST_ID))!, rows as never, fixed);
    });

    it('finalizes only after all three uploads are stored', async () => {
      const h = await recordedButNotAssembled(250);
      const events: string[] = [];
      const upload = h.store.upload.bind(h.store);
      h.store.upload = async (key: string, body: Parameters<typeof upload>[1]) => {
        await upload(key, body);
        events.push(`stored ${key.split('/').pop()}`);
      };
      const finalize = h.status.finalize.bind(h.status);
      h.status.finalize = async (...args) => {
        events.push('finalize');
        return finalize(...args);
      };
      await assembleOutput(REQUEST_ID, h.worker());
      expect(events.slice(0, 3).sort()).toEqual(['stored output.csv', 'stored output.json', 'stored output.ndjson']);
      expect(events.slice(3)).toEqual(['finalize']);
    });

    it('aborts every upload and leaves the request processing when one upload fails', async () => {
      const h = await recordedButNotAssembled(350);
      const upload = h.store.upload.bind(h.store);
      const settled: string[] = [];
      h.store.upload = async (key: string, body: Parameters<typeof upload>[1]) => {
        try {
          if (key.endsWith('.csv')) {
            for await (const _ of body as AsyncIterable<unknown>) throw new Error('S3 said no');
          }
          await upload(key, body);
          settled.push(`stored ${key}`);
        } catch (err) {
          settled.push(`aborted ${key}`);
          throw err;
        }
      };
      await expect(assembleOutput(REQUEST_ID, h.worker())).rejects.toThrow('S3 said no');
      expect(h.status.only().status).toBe('processing');
      expect(settled.sort()).toEqual([
        `aborted ${keys.outputCsv(REQUEST_ID)}`,
        `aborted ${keys.output(REQUEST_ID)}`,
        `aborted ${keys.outputNdjson(REQUEST_ID)}`,
      ]);
      expect(h.store.json(keys.output(REQUEST_ID)).enriched_contacts).toEqual([]); // placeholder kept
    });

    it('holds back while an upload does not take its text (back-pressure)', async () => {
      const h = await recordedButNotAssembled(12_000);
      let pulled = 0;
      const getJson = h.store.getJson.bind(h.store);
      h.store.getJson = async <T>(key: string) => {
        pulled += 1;
        return getJson<T>(key);
      };
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const upload = h.store.upload.bind(h.store);
      h.store.upload = async (key: string, body: Parameters<typeof upload>[1]) => {
        if (key.endsWith('.ndjson')) await gate; // this upload reads nothing until released
        await upload(key, body);
      };
      const run = assembleOutput(REQUEST_ID, { ...h.worker(), prefetch: 2 });
      await new Promise((r) => setTimeout(r, 200));
      const held = pulled;
      release();
      expect(await run).toBe('finalized');
      expect(pulled).toBe(120);
      // The stalled upload's stream takes about 1 MiB (both sides of its PassThrough), then the pass waits.
      const perBatch = h.store.text(keys.outputNdjson(REQUEST_ID))!.length / 120;
      expect(held * perBatch).toBeLessThan(1.25 * 1024 * 1024 + 3 * perBatch);
      expect(held * perBatch).toBeGreaterThan(0.75 * 1024 * 1024);
    });
  });
});

describe('assembleOutput: the usage', () => {
  it("sums every batch result's calls (a result stored without usage counts zero) and counts the rows by source and status, priced", async () => {
    const h = await recordedButNotAssembled(350);
    const running = h.status.only().usage!;
    expect(running).toMatchObject({ providerCalls: 4, contactsSent: 350 });
    // Batch 0: ten rows from the cache and calls of several deliveries; batch 1 stored before usage existed.
    const b0 = h.store.json<BatchResult>(keys.batch(REQUEST_ID, 0))!;
    b0.rows = b0.rows.map((r, i) =>
      i < 10 && r.enrichment_status === 'enriched'
        ? { ...r, source: 'cache', cachedAt: '2024-04-01T00:00:00.000Z' }
        : r,
    );
    b0.usage = { providerCalls: 5, contactsSent: 300, rateLimitWaitMs: 70 };
    await h.store.putJson(keys.batch(REQUEST_ID, 0), b0);
    const { usage: _u, ...older } = h.store.json<BatchResult>(keys.batch(REQUEST_ID, 1))!;
    await h.store.putJson(keys.batch(REQUEST_ID, 1), older);

    expect(await assembleOutput(REQUEST_ID, { ...h.worker(), pricePerMatch: 0.1 })).toBe('finalized');
    const rows = h.store.json<OutputDoc>(keys.output(REQUEST_ID))!.enriched_contacts;
    const cacheHits = rows.filter((r) => r.source === 'cache').length;
    const matches = rows.filter((r) => r.source !== 'cache' && r.enrichment_status === 'enriched').length;
    const notFound = rows.filter((r) => r.enrichment_status === 'not_found').length;
    expect(cacheHits).toBeGreaterThan(0);
    const usage = h.status.only().usage!;
    expect(usage).toEqual({
      providerCalls: 5 + 0 + 1 + 1,
      contactsSent: 300 + 0 + 100 + 50,
      cacheHits,
      matches,
      notFound,
      failed: 0,
      rateLimitWaitMs: 70,
      estimatedCost: Number((matches * 0.1).toFixed(1)),
    });
    expect(usage.cacheHits + usage.matches + usage.notFound + usage.failed).toBe(350);
    expect(usage).not.toEqual({ ...running, estimatedCost: expect.anything() }); // the assembly's count wins
  });

  it('counts the failed rows of a dead-lettered batch, and the calls it made before', async () => {
    const h = await seededRequest(150);
    await processBatch(h.messages[0], h.worker());
    await h.store.putJson(keys.batchProgress(REQUEST_ID, 1), {
      requestId: REQUEST_ID,
      batchIndex: 1,
      ...freshProgress(50, 9, { providerCalls: 9, contactsSent: 450, rateLimitWaitMs: 0 }),
    });
    expect(await failBatch(h.messages[1], 'dlq', h.worker())).toBe('recorded');
    expect(h.status.only().usage).toMatchObject({ providerCalls: 10, contactsSent: 550, failed: 50, estimatedCost: 0 });
  });
});
