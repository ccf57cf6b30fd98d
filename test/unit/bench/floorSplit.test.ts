import { ceiling, floorOfJob, jobCallsByOp, rates, type FloorTiming } from '../../../bench/floorSplit';

const timing = (op: FloorTiming['op'], calls: number, wallMs: number): FloorTiming => ({
  op,
  calls,
  concurrency: 8,
  wallMs,
});

describe("the emulators' floor (bench/floorSplit.ts)", () => {
  it('gives calls per second and the wall time per call at the measured concurrency', () => {
    expect(rates(timing('s3 PUT', 1000, 2500))).toEqual({ callsPerSecond: 400, msPerCall: 2.5 });
  });

  it('names the side whose CPU per call reaches 90% of the wall time per call as the one the calls wait on', () => {
    expect(ceiling(2, 0.5, 1.9)).toBe('the emulator');
    expect(ceiling(2, 1.8, 0.4)).toBe('the SDK (caller)');
    expect(ceiling(2, 2.2, 1.8)).toBe('both');
    expect(ceiling(2, 1.7, 1.7)).toBe('neither');
  });

  it("splits BatchGetItem into one lookup per receive and the cache's rest, and keeps what the floor does not time apart", () => {
    const { byOp, unmeasured } = jobCallsByOp(
      new Map([
        ['sqs ReceiveMessage', 50],
        ['dynamodb BatchGetItem', 550],
        ['dynamodb GetItem', 3],
        ['s3 POST', 6],
        ['s3 PUT', 500],
      ]),
    );
    expect([...byOp]).toEqual([
      ['sqs ReceiveMessage', 50],
      ['dynamodb BatchGetItem lookup', 50],
      ['dynamodb BatchGetItem cache', 500],
      ['s3 PUT', 500],
    ]);
    expect([...unmeasured]).toEqual([
      ['dynamodb GetItem', 3],
      ['s3 POST', 6],
    ]);
    // Fewer BatchGetItems than receives (the cache off, a lookup answered from the batch's own): all lookups.
    expect([
      ...jobCallsByOp(
        new Map([
          ['sqs ReceiveMessage', 50],
          ['dynamodb BatchGetItem', 40],
        ]),
      ).byOp,
    ]).toEqual([
      ['sqs ReceiveMessage', 50],
      ['dynamodb BatchGetItem lookup', 40],
    ]);
  });

  it("adds each operation's calls at its measured wall time per call, and gives the share of the job's time", () => {
    const timings = [
      timing('sqs ReceiveMessage', 1000, 2000), // 2 ms a call
      timing('dynamodb BatchGetItem lookup', 1000, 1000), // 1 ms
      timing('dynamodb BatchGetItem cache', 1000, 4000), // 4 ms
      timing('s3 PUT', 1000, 3000), // 3 ms
    ];
    const calls = new Map([
      ['sqs ReceiveMessage', 50],
      ['dynamodb BatchGetItem', 550],
      ['s3 PUT', 500],
      ['s3 DELETE', 1],
    ]);
    const floor = floorOfJob(calls, timings, 4);
    // 50 × 2 + 50 × 1 + 500 × 4 + 500 × 3 = 3,650 ms
    expect(floor.floorSeconds).toBeCloseTo(3.65, 9);
    expect(floor.share).toBeCloseTo(3.65 / 4, 9);
    expect(floor.byOp.map((r) => [r.op, r.calls, +r.seconds.toFixed(3)])).toEqual([
      ['sqs ReceiveMessage', 50, 0.1],
      ['dynamodb BatchGetItem lookup', 50, 0.05],
      ['dynamodb BatchGetItem cache', 500, 2],
      ['s3 PUT', 500, 1.5],
    ]);
    expect([...floor.unmeasured]).toEqual([['s3 DELETE', 1]]);
  });

  it('refuses a job operation the floor did not time rather than counting it as free', () => {
    expect(() => floorOfJob(new Map([['s3 GET', 10]]), [timing('s3 PUT', 10, 10)], 1)).toThrow(/no timing for s3 GET/);
  });
});
