import { Readable } from 'node:stream';
import type { ObjectStore } from '../src/core/ports';

/**
 * A stand-in ObjectStore for sizes no in-memory emulator holds (10M contacts): what is read is generated on
 * the fly by `generate` (batch results, an upload), what is written is counted, never kept.
 */
export class CountingStore implements ObjectStore {
  bytesWritten = 0;
  objectsWritten = 0;
  constructor(
    private readonly generate: {
      json?: (key: string) => unknown;
      stream?: (key: string) => AsyncIterable<string | Buffer> | undefined;
      /** A streamed object's size in bytes, for head (the intake reads it before deciding what to hold). */
      size?: (key: string) => number | undefined;
    } = {},
  ) {}

  async putJson(_key: string, value: unknown): Promise<void> {
    this.bytesWritten += Buffer.byteLength(JSON.stringify(value));
    this.objectsWritten++;
  }

  async upload(_key: string, body: AsyncIterable<string | Buffer> | Readable): Promise<void> {
    for await (const chunk of body as AsyncIterable<string | Buffer>)
      this.bytesWritten += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    this.objectsWritten++;
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    return this.generate.json?.(key) as T | undefined;
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const source = this.generate.stream?.(key);
    return source && Readable.from(source);
  }

  async listKeys(): Promise<string[]> {
    return [];
  }

  async head(key: string): Promise<{ size: number; etag: string } | undefined> {
    const size = this.generate.size?.(key);
    return size === undefined ? undefined : { size, etag: '"standin"' };
  }
}
