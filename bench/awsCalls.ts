/**
 * AWS calls per 1,000 contacts (issue 19): the emulators count every call they receive by service and operation
 * (src/local/emulators.ts, `onCall`); a job's calls are the counts at its end minus those at its start.
 */

/** Counts keyed `<service> <operation>` (`sqs ReceiveMessage`, `dynamodb BatchGetItem`, `s3 PUT`). */
export type CallCounts = ReadonlyMap<string, number>;

/** The calls made between two readings of the same counter. */
export function callsSince(before: CallCounts, now: CallCounts): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, n] of now) {
    const d = n - (before.get(key) ?? 0);
    if (d > 0) out.set(key, d);
  }
  return out;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * One row of the bench's table: calls per 1,000 contacts for each service, their total and the Lambda invocations,
 * and the operations in detail (most frequent first).
 */
export function perThousand(contacts: number, calls: CallCounts, invocations: number) {
  const per = (n: number) => round1((n * 1000) / contacts);
  const service = (name: string) => [...calls].filter(([k]) => k.startsWith(`${name} `)).reduce((a, [, n]) => a + n, 0);
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  const detail = [...calls]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${per(n)}`)
    .join(', ');
  return {
    contacts,
    'SQS /1k': per(service('sqs')),
    'DynamoDB /1k': per(service('dynamodb')),
    'S3 /1k': per(service('s3')),
    'AWS calls /1k': per(total),
    'Lambda invocations /1k': per(invocations),
    detail,
  };
}
