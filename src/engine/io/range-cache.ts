/**
 * Ranges of a remote file kept in Cache Storage, for models that stream their layers (docs/forward.md "Layer
 * streaming"): a pass reads each decoder layer's tensors by HTTP range requests, and a second pass (or a second
 * visit) finds the bytes in the browser's cache instead of downloading them again. The file is cut into blocks of
 * RANGE_BLOCK_BYTES; a read fetches only the blocks the cache lacks, contiguous missing blocks as one range
 * request, and stores each block under its own key, so any later read of any range is served by whole blocks.
 * Caching is decided once per model by `rangeCachePlan` (the browser's storage quota against the bytes to keep);
 * when it says no, or a store fails (quota exceeded), reads go to the network as they would without a cache.
 */
import { formatBytes } from '../format-bytes.ts';
import { checkRange, type ByteSource } from './byte-source.ts';

/** Block size of cached ranges: small enough that a read fetches little beyond its range, large enough to keep the entries few (61 GB: ~60k). */
export const RANGE_BLOCK_BYTES = 1 << 20;

/** Share of the free quota a model may fill: browsers evict a whole origin when it runs out, so leave some room. */
const QUOTA_SHARE = 0.9;

/** The part of the browser's Cache interface used here (`caches.open(...)` satisfies it). */
export interface RangeStore {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
}

/** Block `index` of a file covers bytes [start, end). */
export interface Block {
  index: number;
  start: number;
  end: number;
}

/** The blocks that cover [offset, offset + length) of a file of `size` bytes (none for an empty read). */
export function blocksOf(offset: number, length: number, size: number, blockBytes = RANGE_BLOCK_BYTES): Block[] {
  if (length === 0) return [];
  const out: Block[] = [];
  for (let index = Math.floor(offset / blockBytes); index * blockBytes < offset + length; index++) {
    out.push({ index, start: index * blockBytes, end: Math.min(size, (index + 1) * blockBytes) });
  }
  return out;
}

/** Consecutive blocks without a cached copy, as runs to fetch with one range request each (in order). */
export function missingRuns(blocks: readonly Block[], cached: readonly boolean[]): Block[][] {
  const runs: Block[][] = [];
  blocks.forEach((block, i) => {
    if (cached[i]) return;
    const run = runs.at(-1);
    if (run && run.at(-1)!.index + 1 === block.index && !cached[i - 1]) run.push(block);
    else runs.push([block]);
  });
  return runs;
}

/** What the browser lets the page store (navigator.storage.estimate()); null where the browser does not say. */
export interface StorageQuota {
  quota: number;
  usage: number;
}

export interface RangeCachePlan {
  /** Whether fetched ranges go into Cache Storage. */
  cache: boolean;
  /** Why not, as one line the page shows (null when caching). */
  message: string | null;
}

/**
 * Whether `bytes` more (the weights not cached yet) fit in the free share of the browser's storage quota. With no
 * cache at all (an insecure origin, Node) or a quota too small, every pass streams from the network instead.
 */
export function rangeCachePlan(hasCache: boolean, quota: StorageQuota | null, bytes: number): RangeCachePlan {
  if (!hasCache) return { cache: false, message: 'This browser gives the page no Cache Storage here, so every pass reads the weights from the network again.' };
  if (!quota || bytes === 0) return { cache: true, message: null };
  const free = Math.max(0, quota.quota - quota.usage);
  if (bytes <= free * QUOTA_SHARE) return { cache: true, message: null };
  return {
    cache: false,
    message:
      `The browser lets this page store ${formatBytes(free)} more (quota ${formatBytes(quota.quota)}, ${formatBytes(quota.usage)} used), ` +
      `less than the ${formatBytes(bytes)} of weights: nothing is cached, every pass reads them from the network again.`,
  };
}

/** Bytes and time spent reading, by where the bytes came from (the read rate behind a pass's time estimate). */
export class ReadMeter {
  networkBytes = 0;
  networkMs = 0;
  cacheBytes = 0;
  cacheMs = 0;

  /** Bytes per second over everything read so far, or null before the first read. */
  bytesPerSecond(): number | null {
    const bytes = this.networkBytes + this.cacheBytes;
    const ms = this.networkMs + this.cacheMs;
    return bytes > 0 && ms > 0 ? (bytes / ms) * 1000 : null;
  }
}

/**
 * `inner` (an HTTP range source) read block by block through `store` (null: straight through, still metered).
 * `key` names the file in the cache (its URL); block i is stored as `${key}?moe-lab-block=<i>`, a URL that is
 * never fetched. Reads of the same block at once share one fetch.
 */
export class RangeCachedSource implements ByteSource {
  private readonly pending = new Map<number, Promise<Uint8Array>>();
  private storing: boolean;

  constructor(
    private readonly inner: ByteSource,
    private readonly key: string,
    private readonly store: RangeStore | null,
    private readonly meter: ReadMeter = new ReadMeter(),
    private readonly blockBytes = RANGE_BLOCK_BYTES,
  ) {
    this.storing = store !== null;
  }

  get name(): string {
    return this.inner.name;
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const size = await this.size();
    checkRange(this.name, offset, length, size);
    const blocks = blocksOf(offset, length, size, this.blockBytes);
    const parts = new Map<number, Uint8Array>();
    const started = performance.now();
    let fromCache = 0;
    const cached = await Promise.all(
      blocks.map(async (block) => {
        const hit = (await this.pending.get(block.index)?.catch(() => null)) ?? (await this.cachedBlock(block));
        if (hit) {
          parts.set(block.index, hit);
          fromCache += hit.byteLength;
        }
        return hit !== null;
      }),
    );
    this.meter.cacheBytes += fromCache;
    this.meter.cacheMs += performance.now() - started;
    for (const run of missingRuns(blocks, cached)) {
      const fetched = this.fetchRun(run);
      run.forEach((block) => {
        const one = fetched.then((bytes) => bytes.subarray(block.start - run[0].start, block.end - run[0].start));
        this.pending.set(block.index, one);
        void one.catch(() => undefined).finally(() => this.pending.delete(block.index));
      });
      const bytes = await fetched;
      for (const block of run) parts.set(block.index, bytes.subarray(block.start - run[0].start, block.end - run[0].start));
    }
    const out = new Uint8Array(length);
    for (const block of blocks) {
      const bytes = parts.get(block.index)!;
      const from = Math.max(offset, block.start);
      const to = Math.min(offset + length, block.end);
      out.set(bytes.subarray(from - block.start, to - block.start), from - offset);
    }
    return out;
  }

  private blockKey(block: Block): string {
    return `${this.key}?moe-lab-block=${block.index}`;
  }

  /** A block from the cache when it is there whole. */
  private async cachedBlock(block: Block): Promise<Uint8Array | null> {
    const hit = await this.store?.match(this.blockKey(block));
    if (!hit) return null;
    const bytes = new Uint8Array(await hit.arrayBuffer());
    return bytes.byteLength === block.end - block.start ? bytes : null;
  }

  /** One range request for a run of blocks; each block then goes into the cache (a failed store stops caching). */
  private async fetchRun(run: Block[]): Promise<Uint8Array> {
    const start = run[0].start;
    const started = performance.now();
    const bytes = await this.inner.read(start, run.at(-1)!.end - start);
    this.meter.networkBytes += bytes.byteLength;
    this.meter.networkMs += performance.now() - started;
    if (this.storing) {
      for (const block of run) {
        const copy = bytes.slice(block.start - start, block.end - start);
        try {
          await this.store!.put(this.blockKey(block), new Response(copy, { headers: { 'content-type': 'application/octet-stream' } }));
        } catch {
          // QuotaExceededError (or storage turned off meanwhile): the rest of this file streams from the network.
          this.storing = false;
          break;
        }
      }
    }
    return bytes;
  }
}
