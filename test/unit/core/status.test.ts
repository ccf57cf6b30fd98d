import { finalStatus, isComplete, isFinal, keys, outputKey, toStatusResponse } from '../../../src/core/status';
import type { StatusRecord } from '../../../src/schemas/status';

const record: StatusRecord = {
  requestId: '0d9c6d1e-6f7c-4b8e-9a57-0a4d7e0c1f2b',
  status: 'processing',
  createdAt: '2024-05-01T12:00:00.000Z',
  updatedAt: '2024-05-01T12:00:05.000Z',
  totalContacts: 250,
  totalBatches: 3,
  processedBatches: 1,
  failedBatches: 1,
  fields: ['professional_email'],
  inputFileKey: 'x/input.json',
  outputFileKey: 'x/output.json',
  deadlineAt: '2024-05-01T13:00:00.000Z',
  expiresAt: 1_717_243_200,
  doneBatches: new Set([0, 2]),
};

describe('finalStatus', () => {
  it('is completed when nothing failed, not_found included', () => {
    expect(finalStatus({ enriched: 10, not_found: 0, failed: 0 })).toBe('completed');
    expect(finalStatus({ enriched: 9, not_found: 1, failed: 0 })).toBe('completed');
    expect(finalStatus({ enriched: 0, not_found: 5, failed: 0 })).toBe('completed');
  });
  it('is completed_with_errors when some rows failed', () => {
    expect(finalStatus({ enriched: 9, not_found: 0, failed: 1 })).toBe('completed_with_errors');
    expect(finalStatus({ enriched: 0, not_found: 1, failed: 1 })).toBe('completed_with_errors');
  });
  it('is failed when every row failed', () => {
    expect(finalStatus({ enriched: 0, not_found: 0, failed: 3 })).toBe('failed');
  });
});

describe('isComplete / isFinal', () => {
  it('counts processed and failed batches together', () => {
    expect(isComplete({ processedBatches: 1, failedBatches: 1, totalBatches: 3 })).toBe(false);
    expect(isComplete({ processedBatches: 2, failedBatches: 1, totalBatches: 3 })).toBe(true);
    expect(isComplete({ processedBatches: 0, failedBatches: 3, totalBatches: 3 })).toBe(true);
    expect(isComplete({ processedBatches: 0, failedBatches: 0, totalBatches: 1 })).toBe(false);
  });
  it('treats every status but validating and processing as final', () => {
    expect(isFinal('processing')).toBe(false);
    expect(isFinal('validating')).toBe(false);
    for (const s of ['completed', 'completed_with_errors', 'failed', 'rejected'] as const)
      expect(isFinal(s)).toBe(true);
  });
});

describe('toStatusResponse', () => {
  it('exposes the documented fields and no internal ones', () => {
    const res = toStatusResponse(record, 'https://api/x/download');
    expect(res).toEqual({
      requestId: record.requestId,
      status: 'processing',
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      expiresAt: '2024-06-01T12:00:00.000Z',
      totalContacts: 250,
      totalBatches: 3,
      processedBatches: 1,
      failedBatches: 1,
      outputFileKey: 'x/output.json',
      downloadUrl: 'https://api/x/download',
    });
    expect(JSON.parse(JSON.stringify(res))).toEqual(res); // plain JSON, no Set
  });

  it('adds completedAt and a summary once final', () => {
    const res = toStatusResponse(
      {
        ...record,
        status: 'completed_with_errors',
        completedAt: '2024-05-01T12:01:00.000Z',
        enrichedContacts: 240,
        notFoundContacts: 9,
        failedContacts: 1,
      },
      'u',
    );
    expect(res.completedAt).toBe('2024-05-01T12:01:00.000Z');
    expect(res.summary).toEqual({ enriched: 240, not_found: 9, failed: 1 });
  });

  it('lists a download link per format once final, and none while processing (ndjson and csv do not exist yet)', () => {
    expect(toStatusResponse(record, 'https://api/x/download').downloadUrls).toBeUndefined();
    expect(toStatusResponse({ ...record, status: 'failed' }, 'https://api/x/download').downloadUrls).toEqual({
      json: 'https://api/x/download?format=json',
      ndjson: 'https://api/x/download?format=ndjson',
      csv: 'https://api/x/download?format=csv',
    });
  });
});

describe('toStatusResponse: usage', () => {
  const counts = {
    providerCalls: 4,
    contactsSent: 310,
    cacheHits: 20,
    matches: 3,
    notFound: 226,
    failed: 1,
    rateLimitWaitMs: 1_250,
  };

  it('shows a final usage with the cost the assembly set, whatever the price is now', () => {
    const final = { ...record, status: 'completed_with_errors' as const, usage: { ...counts, estimatedCost: 0.3 } };
    expect(toStatusResponse(final, 'u', 5).usage).toEqual({ ...counts, estimatedCost: 0.3 });
  });

  it('prices a running usage at the current price (matches only), rid of binary noise', () => {
    expect(toStatusResponse({ ...record, usage: counts }, 'u', 0.1).usage).toEqual({ ...counts, estimatedCost: 0.3 });
    expect(toStatusResponse({ ...record, usage: counts }, 'u').usage).toEqual({ ...counts, estimatedCost: 0 });
  });

  it('shows none before the first batch is recorded, nor for a request finished before usage existed', () => {
    expect(toStatusResponse(record, 'u', 0.1)).not.toHaveProperty('usage');
    expect(toStatusResponse({ ...record, status: 'completed' }, 'u', 0.1)).not.toHaveProperty('usage');
  });
});

describe('keys', () => {
  const id = 'req';
  it('names the request objects', () => {
    expect(keys.input(id)).toBe('req/input.json');
    expect(keys.output(id)).toBe('req/output.json');
    expect([outputKey(id, 'json'), outputKey(id, 'ndjson'), outputKey(id, 'csv')]).toEqual([
      'req/output.json',
      'req/output.ndjson',
      'req/output.csv',
    ]);
    expect(keys.batch(id, 7)).toBe('req/batches/000007.json');
    expect(keys.failedBatch(id, 7)).toBe('req/batches/000007.failed.json');
  });
  it('puts batch results under the batch prefix, sorting by index as text', () => {
    const indexes = [0, 1, 9, 10, 99, 100, 12_345];
    const names = indexes.map((i) => keys.batch(id, i));
    for (const n of names) expect(n.startsWith(keys.batchPrefix(id))).toBe(true);
    expect(keys.failedBatch(id, 3).startsWith(keys.batchPrefix(id))).toBe(true);
    expect([...names].sort()).toEqual(names);
  });
});
