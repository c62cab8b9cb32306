/**
 * Random access to the bytes of one file, wherever it lives: memory, a browser File/Blob, a URL (HTTP range
 * requests) or, in Node, the filesystem (src/cli/fs-source.ts). Reading is lazy and by range, so a 3 GB
 * checkpoint never needs one 3 GB ArrayBuffer.
 */
import { ModelFileError } from '../errors.ts';

export interface ByteSource {
  /** The file's name (or path) as errors should show it. */
  readonly name: string;
  size(): Promise<number>;
  /** Exactly `length` bytes from `offset`; throws ModelFileError('truncated') past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

function checkRange(name: string, offset: number, length: number, size: number): void {
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
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** A URL read with HTTP range requests; the size comes from a HEAD request (or a 1-byte range). */
export class HttpByteSource implements ByteSource {
  private knownSize: number | null = null;

  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly fetchImpl: Fetch = (input, init) => fetch(input, init),
    knownSize?: number,
  ) {
    this.knownSize = knownSize ?? null;
  }

  async size(): Promise<number> {
    if (this.knownSize !== null) return this.knownSize;
    const response = await this.fetchImpl(this.url, { headers: { Range: 'bytes=0-0' } });
    const range = response.headers.get('content-range');
    const total = range ? Number(range.split('/')[1]) : Number(response.headers.get('content-length'));
    await response.body?.cancel();
    if (!response.ok || !Number.isSafeInteger(total)) {
      throw new ModelFileError(this.name, 'missing-file', `could not get the size of ${this.url} (HTTP ${response.status})`);
    }
    this.knownSize = total;
    return total;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, offset, length, await this.size());
    if (length === 0) return new Uint8Array(0);
    const response = await this.fetchImpl(this.url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
    if (!response.ok) throw new ModelFileError(this.name, 'missing-file', `HTTP ${response.status} reading ${this.url}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    // A server that ignores Range answers 200 with the whole file: take our slice of it.
    if (response.status === 200 && bytes.byteLength !== length) return bytes.subarray(offset, offset + length);
    if (bytes.byteLength !== length) {
      throw new ModelFileError(this.name, 'truncated', `expected ${length} bytes at ${offset}, the server sent ${bytes.byteLength}`);
    }
    return bytes;
  }
}
