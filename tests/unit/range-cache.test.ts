/**
 * The range cache's bookkeeping (src/engine/io/range-cache.ts): which blocks a read covers, which of them one range
 * request fetches, the quota decision, and reads assembled from blocks equal the file's bytes. The cache itself (the
 * browser's Cache Storage) is exercised for real in tests/e2e/lab-stream.spec.ts.
 */
import { describe, expect, it } from 'vitest';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { blocksOf, missingRuns, RangeCachedSource, rangeCachePlan, ReadMeter } from '../../src/engine/io/range-cache.ts';

describe('blocksOf', () => {
  it('covers the read with whole blocks, the last one cut at the end of the file', () => {
    expect(blocksOf(0, 1, 25, 10)).toEqual([{ index: 0, start: 0, end: 10 }]);
    expect(blocksOf(9, 2, 25, 10)).toEqual([
      { index: 0, start: 0, end: 10 },
      { index: 1, start: 10, end: 20 },
    ]);
    expect(blocksOf(10, 10, 25, 10)).toEqual([{ index: 1, start: 10, end: 20 }]);
    expect(blocksOf(19, 6, 25, 10)).toEqual([
      { index: 1, start: 10, end: 20 },
      { index: 2, start: 20, end: 25 },
    ]);
    expect(blocksOf(7, 0, 25, 10)).toEqual([]);
  });
});

describe('missingRuns', () => {
  const blocks = blocksOf(0, 60, 60, 10); // six blocks
  it('groups consecutive uncached blocks into one request each', () => {
    const runs = missingRuns(blocks, [true, false, false, true, false, false]);
    expect(runs.map((run) => run.map((b) => b.index))).toEqual([
      [1, 2],
      [4, 5],
    ]);
  });
  it('fetches nothing when every block is cached, everything in one run when none is', () => {
    expect(
      missingRuns(
        blocks,
        blocks.map(() => true),
      ),
    ).toEqual([]);
    expect(
      missingRuns(
        blocks,
        blocks.map(() => false),
      ).map((run) => run.length),
    ).toEqual([6]);
  });
});

describe('rangeCachePlan', () => {
  it('caches when the weights fit the free share of the quota', () => {
    expect(rangeCachePlan(true, { quota: 1000, usage: 100 }, 800)).toEqual({ cache: true, message: null });
    expect(rangeCachePlan(true, null, 800)).toEqual({ cache: true, message: null });
  });
  it('streams from the network with a message naming the quota when they do not', () => {
    const plan = rangeCachePlan(true, { quota: 2 ** 30, usage: 2 ** 29 }, 2 ** 30);
    expect(plan.cache).toBe(false);
    expect(plan.message).toBe(
      'The browser lets this page store 512.0 MiB more (quota 1.0 GiB, 512.0 MiB used), less than the 1.0 GiB of weights: nothing is cached, every pass reads them from the network again.',
    );
  });
  it('says so when there is no Cache Storage at all', () => {
    const plan = rangeCachePlan(false, { quota: 2 ** 40, usage: 0 }, 10);
    expect(plan.cache).toBe(false);
    expect(plan.message).toMatch(/no Cache Storage/);
  });
});

describe('RangeCachedSource without a store', () => {
  it('assembles any range from blocks, byte for byte, and meters what it read', async () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 255);
    const meter = new ReadMeter();
    const source = new RangeCachedSource(new MemoryByteSource('f.safetensors', bytes), 'https://example.org/f.safetensors', null, meter, 64);
    for (const [offset, length] of [
      [0, 8],
      [63, 2],
      [64, 64],
      [100, 900],
      [999, 1],
      [5, 0],
    ]) {
      expect(await source.read(offset, length)).toEqual(bytes.subarray(offset, offset + length));
    }
    // Whole blocks move: 1 + 2 + 1 + 15 + 1 blocks of 64 bytes (the last one 40).
    expect(meter.networkBytes).toBe(64 + 128 + 64 + 14 * 64 + 40 + 40);
    await expect(source.read(990, 20)).rejects.toThrow(/past the end/);
  });
});
