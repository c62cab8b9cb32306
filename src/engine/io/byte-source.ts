/**
 * Random access to the bytes of one file, wherever it lives: memory, a browser File/Blob, a URL (HTTP range
 * requests) or, in Node, the filesystem (src/cli/fs-folder.ts). Reading is lazy and by range, so a 3 GB
 * checkpoint never needs one 3 GB ArrayBuffer.
 */
import { ModelFileError } from '../errors.ts';
import { contentLength, contentRangeStart, contentRangeTotal, defaultFetch, fetchOrThrow, httpStatusError, readBodySlice, type Fetch } from './http.ts';

export type { Fetch } from './http.ts';

export interface ByteSource {
  /** The file's name (or path) as errors should show it. */
  readonly name: string;
  size(): Promise<number>;
  /** Exactly `length` bytes from `offset`; throws ModelFileError('truncated') past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Refuses a read outside [0, size) before any byte is allocated or fetched. */
export function checkRange(name: string, offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new ModelFileError(name, 'truncated', `read of ${length} bytes at ${offset} is past the end of the file (${size} bytes)`);
  }
}

export class MemoryByteSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
  ) {}

  async size(): Promise<number> {
    return this.bytes.byteLength;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, offset, length, this.bytes.byteLength);
    return this.bytes.subarray(offset, offset + length);
  }
}

/** A browser File or Blob (drag and drop, <input type=file>, a Cache Storage response body). */
export class BlobByteSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly blob: Blob,
  ) {}

  async size(): Promise<number> {
    return this.blob.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, offset, length, this.blob.size);
    try {
      return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
    } catch (error) {
      // A File whose disk copy changed or vanished after it was picked (NotReadableError).
      throw new ModelFileError(this.name, 'missing-file', `could not read the file (${(error as Error)?.message ?? String(error)})`);
    }
  }
}

/**
 * A URL read with HTTP range requests; the size comes from the answer to a 1-byte range unless given (a HEAD's
 * Content-Length). A server that ignores Range (200 with the whole body) still works: the body is streamed and
 * dropped once the wanted bytes are in. Cancel through `fetchImpl` (a fetch bound to an AbortSignal).
 */
export class HttpByteSource implements ByteSource {
  private knownSize: number | null;

  constructor(
    readonly name: string,
    readonly url: string,
    private readonly fetchImpl: Fetch = defaultFetch,
    knownSize?: number,
  ) {
    this.knownSize = knownSize ?? null;
  }

  async size(): Promise<number> {
    if (this.knownSize !== null) return this.knownSize;
    const response = await fetchOrThrow(this.fetchImpl, this.name, this.url, { headers: { Range: 'bytes=0-0' } });
    await response.body?.cancel().catch(() => undefined);
    // 416 answers a range on an empty file, with `Content-Range: bytes */0`.
    const total = response.status === 206 || response.status === 416 ? contentRangeTotal(response) : response.ok ? contentLength(response) : null;
    if (!response.ok && response.status !== 416) throw httpStatusError(this.name, this.url, response);
    if (total === null) throw new ModelFileError(this.name, 'network', `the server did not say how long ${this.url} is (HTTP ${response.status})`);
    this.knownSize = total;
    return total;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, offset, length, await this.size());
    if (length === 0) return new Uint8Array(0);
    const response = await fetchOrThrow(this.fetchImpl, this.name, this.url, {
      headers: { Range: `bytes=${offset}-${offset + length - 1}` },
    });
    if (!response.ok) throw httpStatusError(this.name, this.url, response);
    if (response.status === 206) {
      const start = contentRangeStart(response);
      if (start !== offset) {
        await response.body?.cancel().catch(() => undefined);
        throw new ModelFileError(this.name, 'network', `asked ${this.url} for bytes from ${offset}, the server sent a range from ${start ?? 'unknown'}`);
      }
      return readBodySlice(this.name, response, 0, length);
    }
    return readBodySlice(this.name, response, offset, length);
  }
}
