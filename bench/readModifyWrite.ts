import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/**
 * The public design's output strategy (reference README, "Process Lambda"): every batch reads output.json,
 * appends its rows and writes the whole file back. Batches run one after another, the only way that strategy
 * keeps every row (concurrent read-modify-writes of one object lose updates); only its S3 part is timed,
 * with rows like ours, against the same emulator through the same SDK.
 */
export async function readModifyWrite(
  s3: S3Client,
  bucket: string,
  contacts: number,
): Promise<{ seconds: number; bytesWritten: number }> {
  const key = `rmw/${contacts}/output.json`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: '[]', ContentType: 'application/json' }));
  let bytesWritten = 0;
  const t0 = performance.now();
  for (let b = 0; b * 100 < contacts; b++) {
    const current = JSON.parse(
      await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString(),
    ) as unknown[];
    for (let i = b * 100; i < Math.min(contacts, (b + 1) * 100); i++) {
      current.push({
        first_name: `First${i}`,
        last_name: `Last${i}`,
        company_domain: `company${i % 997}.example.com`,
        professional_email: `first${i}.last${i}@company${i % 997}.example.com`,
        personal_phone: '+1 555 0100',
        enrichment_status: 'enriched',
      });
    }
    const body = JSON.stringify(current);
    bytesWritten += Buffer.byteLength(body);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
  }
  return { seconds: (performance.now() - t0) / 1000, bytesWritten };
}
