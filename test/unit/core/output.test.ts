import {
  countRow,
  emptyCounts,
  enrichedRow,
  failedRow,
  placeholderOutput,
  renderOutput,
  type BatchResult,
} from '../../../src/core/output';
import type { OutputRow } from '../../../src/schemas/contact';

const contact = { first_name: 'Ada', last_name: 'Lovelace', company_domain: 'example.com', crm_id: 'c-1' };
const full = {
  enrichment_status: 'enriched' as const,
  professional_email: 'ada@example.com',
  personal_phone: '+44 20 0000 0000',
  job_title: 'Engineer',
  linkedin_url: 'https://www.linkedin.com/in/ada',
};

describe('enrichedRow', () => {
  it('adds only the requested fields to the input contact, keeping extra properties', () => {
    const row = enrichedRow(contact, ['professional_email'], full);
    expect(row).toEqual({
      ...contact,
      professional_email: 'ada@example.com',
      enrichment_status: 'enriched',
      source: 'provider',
    });
    expect(Object.keys(row)).toEqual([
      'first_name',
      'last_name',
      'company_domain',
      'crm_id',
      'professional_email',
      'enrichment_status',
      'source',
    ]);
  });

  it('marks a cached result with source cache and the time it was obtained, last', () => {
    const row = enrichedRow(contact, ['job_title'], full, '2025-01-02T03:04:05.000Z');
    expect(row).toEqual({
      ...contact,
      job_title: 'Engineer',
      enrichment_status: 'enriched',
      source: 'cache',
      cachedAt: '2025-01-02T03:04:05.000Z',
    });
    expect(Object.keys(row).slice(-3)).toEqual(['enrichment_status', 'source', 'cachedAt']);
  });

  it('sets a requested field the API did not return to null', () => {
    const row = enrichedRow(contact, ['professional_email', 'job_title'], {
      enrichment_status: 'enriched',
      professional_email: 'a@b.co',
    });
    expect(row.job_title).toBeNull();
    expect(row.professional_email).toBe('a@b.co');
  });

  it('gives not_found contacts null fields even when the API sent values', () => {
    const row = enrichedRow(contact, ['professional_email', 'personal_phone'], {
      ...full,
      enrichment_status: 'not_found',
    });
    expect(row).toEqual({
      ...contact,
      professional_email: null,
      personal_phone: null,
      enrichment_status: 'not_found',
      source: 'provider',
    });
  });

  it('does not change the input contact', () => {
    const input = { ...contact };
    enrichedRow(input, ['personal_phone'], full);
    expect(input).toEqual(contact);
  });
});

describe('failedRow', () => {
  it('nulls the requested fields and gives the reason', () => {
    expect(failedRow(contact, ['personal_phone', 'linkedin_url'], 'enrichment API answered 500')).toEqual({
      ...contact,
      personal_phone: null,
      linkedin_url: null,
      enrichment_status: 'failed',
      failure_reason: 'enrichment API answered 500',
      source: 'provider',
    });
  });
});

describe('counts', () => {
  it('start at zero and count by status', () => {
    const counts = emptyCounts();
    expect(counts).toEqual({ enriched: 0, not_found: 0, failed: 0 });
    countRow(counts, 'enriched');
    countRow(counts, 'failed');
    countRow(counts, 'failed');
    expect(counts).toEqual({ enriched: 1, not_found: 0, failed: 2 });
  });
});

describe('placeholderOutput', () => {
  it('is an empty result list', () => {
    expect(placeholderOutput('r-1')).toEqual({ requestId: 'r-1', status: 'processing', enriched_contacts: [] });
  });
});

describe('renderOutput', () => {
  const row = (i: number, status: OutputRow['enrichment_status']): OutputRow =>
    ({
      first_name: `F${i}`,
      last_name: `L${i}`,
      company_domain: 'example.com',
      enrichment_status: status,
    }) as OutputRow;

  async function* from(batches: BatchResult[]) {
    for (const b of batches) {
      await Promise.resolve();
      yield b;
    }
  }
  async function render(batches: BatchResult[]) {
    const counts = emptyCounts();
    let text = '';
    for await (const part of renderOutput('req-1', from(batches), counts)) text += part;
    return { doc: JSON.parse(text), counts, text };
  }

  it('yields valid JSON with every row in batch order and the counts', async () => {
    const batches: BatchResult[] = [
      { requestId: 'req-1', batchIndex: 0, rows: [row(0, 'enriched'), row(1, 'not_found')] },
      { requestId: 'req-1', batchIndex: 1, rows: [row(2, 'failed')] },
      { requestId: 'req-1', batchIndex: 2, rows: [row(3, 'enriched'), row(4, 'enriched')] },
    ];
    const { doc, counts } = await render(batches);
    expect(doc.requestId).toBe('req-1');
    expect(doc.enriched_contacts.map((r: OutputRow) => r.first_name)).toEqual(['F0', 'F1', 'F2', 'F3', 'F4']);
    expect(doc.enriched_contacts).toEqual(batches.flatMap((b) => b.rows));
    expect(counts).toEqual({ enriched: 3, not_found: 1, failed: 1 });
    expect(doc.summary).toEqual({ total: 5, enriched: 3, not_found: 1, failed: 1 });
  });

  it('stays valid JSON with empty batches anywhere, and with none at all', async () => {
    const batches: BatchResult[] = [
      { requestId: 'req-1', batchIndex: 0, rows: [] },
      { requestId: 'req-1', batchIndex: 1, rows: [row(0, 'enriched')] },
      { requestId: 'req-1', batchIndex: 2, rows: [] },
      { requestId: 'req-1', batchIndex: 3, rows: [row(1, 'enriched')] },
    ];
    expect((await render(batches)).doc.enriched_contacts).toHaveLength(2);
    const empty = await render([]);
    expect(empty.doc).toEqual({
      requestId: 'req-1',
      enriched_contacts: [],
      summary: { total: 0, enriched: 0, not_found: 0, failed: 0 },
    });
  });

  it('escapes contact text safely', async () => {
    const tricky = { ...row(0, 'enriched'), first_name: 'Quote " and \\ and \n and ]}' } as OutputRow;
    const { doc } = await render([{ requestId: 'req-1', batchIndex: 0, rows: [tricky] }]);
    expect(doc.enriched_contacts[0].first_name).toBe('Quote " and \\ and \n and ]}');
  });

  it('pulls one batch at a time (streams instead of collecting)', async () => {
    let pulled = 0;
    async function* counting() {
      for (let i = 0; i < 5; i++) {
        pulled += 1;
        yield { requestId: 'req-1', batchIndex: i, rows: [row(i, 'enriched')] } as BatchResult;
      }
    }
    const it = renderOutput('req-1', counting(), emptyCounts());
    await it.next(); // header
    await it.next(); // first batch
    expect(pulled).toBe(1);
  });
});
