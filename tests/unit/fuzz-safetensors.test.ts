/**
 * Fuzzing the safetensors header reader with thousands of seeded cases: mutated real headers (the six fixtures),
 * splices, truncations, random JSON and bytes, huge numbers, deep nesting and long strings. Whatever comes in,
 * only ModelFileError comes out, each case finishes within a time bound, and nothing is read (so nothing is
 * allocated) beyond the bytes the file really has: the source below claims a petabyte-sized file and counts reads.
 */
import { describe, expect, it } from 'vitest';
import { ModelFileError } from '../../src/engine/errors.ts';
import type { ByteSource } from '../../src/engine/io/byte-source.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { createRng, type Rng } from '../../src/engine/random.ts';
import { FIXTURES, fixtureDir } from '../helpers/fixtures.ts';
import { flipBits, mutateHeaderObject, randomBytes, randomJson, randomString, splice, stampBytes } from '../helpers/fuzz.ts';
import { concatBytes } from '../helpers/checkpoint-files.ts';
import { headerTextOf, safetensorsBytes } from '../helpers/safetensors-bytes.ts';

const SEED = 20240611;
/**
 * Per-case bounds, with room for a machine shared with other work: a mutated fixture header (~8 KB) takes well
 * under 1 ms, the megabyte-sized headers of the second test tens of ms. A case that scaled badly (quadratic
 * checks, a hang) would blow far past them.
 */
const CASE_TIME_LIMIT_MS = 1000;
const LARGE_CASE_TIME_LIMIT_MS = 5000;

/**
 * The bytes of a file, optionally inside a much larger claimed size (the rest reads as zeros). Records the largest
 * single read and the total, which must stay within the real prefix however large the header says the data is.
 */
class CountingSource implements ByteSource {
  largestRead = 0;
  totalRead = 0;
  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
    private readonly claimedSize = bytes.byteLength,
  ) {}
  async size() {
    return this.claimedSize;
  }
  async read(offset: number, length: number) {
    if (offset + length > this.claimedSize) throw new ModelFileError(this.name, 'truncated', 'read past the end');
    this.largestRead = Math.max(this.largestRead, length);
    this.totalRead += length;
    const out = new Uint8Array(length);
    out.set(this.bytes.subarray(offset, Math.min(offset + length, this.bytes.byteLength)));
    return out;
  }
}

interface Outcome {
  accepted: number;
  problems: Map<string, number>;
  slowestMs: number;
}

async function runCase(bytes: Uint8Array, outcome: Outcome, label: string, claimedSize?: number, limitMs = CASE_TIME_LIMIT_MS): Promise<void> {
  const source = new CountingSource(`fuzz/${label}.safetensors`, bytes, claimedSize);
  const start = performance.now();
  try {
    await readSafetensorsHeader(source);
    outcome.accepted++;
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw new Error(`case ${label}: ${(error as Error)?.stack ?? String(error)}`, { cause: error });
    expect(error.message.startsWith(`fuzz/${label}.safetensors: `), label).toBe(true);
    expect(error.message, label).not.toMatch(/[\n\r]/);
    outcome.problems.set(error.problem, (outcome.problems.get(error.problem) ?? 0) + 1);
  }
  const elapsed = performance.now() - start;
  outcome.slowestMs = Math.max(outcome.slowestMs, elapsed);
  expect(elapsed, `case ${label} took ${elapsed.toFixed(1)} ms`).toBeLessThan(limitMs);
  // Reads stay inside the bytes that exist (8 + the header), never the sizes the header claims.
  expect(source.totalRead, label).toBeLessThanOrEqual(bytes.byteLength);
}

/** 8-byte prefix + header + `dataBytes` of zeros, the prefix (the declared header length) bit-flipped or not. */
function withHeader(header: Uint8Array, dataBytes: number, rng: Rng, mutatePrefix: boolean): Uint8Array {
  const prefixed = safetensorsBytes(header, 0);
  const prefix = mutatePrefix ? flipBits(rng, prefixed.subarray(0, 8)) : prefixed.subarray(0, 8);
  return concatBytes(prefix, prefixed.subarray(8), new Uint8Array(dataBytes));
}

describe('safetensors header fuzzing', () => {
  const encoder = new TextEncoder();
  const corpus = FIXTURES.map((name) => {
    const text = headerTextOf(`${fixtureDir(name)}/model.safetensors`);
    const header = JSON.parse(text) as Record<string, unknown>;
    const dataBytes = Math.max(...Object.values(header).map((e) => ((e as { data_offsets?: number[] }).data_offsets ?? [0, 0])[1]));
    return { name, text, bytes: encoder.encode(text), header, dataBytes };
  });

  it('only ModelFileError comes out of thousands of mutated and random headers, each fast, none over-reading', async () => {
    const rng = createRng(SEED);
    const outcome: Outcome = { accepted: 0, problems: new Map(), slowestMs: 0 };
    let cases = 0;
    const run = async (bytes: Uint8Array, kind: string, claimedSize?: number) => runCase(bytes, outcome, `${kind}-${cases++}`, claimedSize);

    // The real headers are accepted as they are.
    for (const c of corpus) await run(concatBytes(safetensorsBytes(c.bytes), new Uint8Array(c.dataBytes)), 'original');
    expect(outcome.accepted).toBe(corpus.length);

    for (let i = 0; i < 1500; i++) {
      const c = corpus[rng.int(corpus.length)];
      await run(withHeader(flipBits(rng, c.bytes), c.dataBytes, rng, rng.int(8) === 0), 'bitflip');
    }
    for (let i = 0; i < 500; i++) {
      const c = corpus[rng.int(corpus.length)];
      await run(withHeader(stampBytes(rng, c.bytes), c.dataBytes, rng, false), 'stamp');
    }
    for (let i = 0; i < 1500; i++) {
      const c = corpus[rng.int(corpus.length)];
      const edited = encoder.encode(JSON.stringify(mutateHeaderObject(rng, c.header)));
      await run(withHeader(edited, c.dataBytes, rng, false), 'edit');
    }
    for (let i = 0; i < 500; i++) {
      const a = corpus[rng.int(corpus.length)];
      const b = corpus[rng.int(corpus.length)];
      await run(withHeader(splice(rng, a.bytes, b.bytes), b.dataBytes, rng, false), 'splice');
    }
    for (let i = 0; i < 500; i++) {
      const c = corpus[rng.int(corpus.length)];
      const full = concatBytes(safetensorsBytes(c.bytes), new Uint8Array(c.dataBytes));
      await run(full.subarray(0, rng.int(full.byteLength)), 'truncate');
    }
    for (let i = 0; i < 1000; i++) {
      await run(safetensorsBytes(JSON.stringify(randomJson(rng, 5)) ?? 'null', rng.int(64)), 'json');
    }
    for (let i = 0; i < 500; i++) await run(randomBytes(rng, rng.int(200)), 'bytes');
    // Claims: a declared length far larger than the file, data offsets of petabytes in a file "of" 2^50 bytes.
    for (let i = 0; i < 300; i++) {
      const c = corpus[rng.int(corpus.length)];
      const edited = mutateHeaderObject(rng, c.header);
      await run(safetensorsBytes(encoder.encode(JSON.stringify(edited)), 0, BigInt(rng.int(2 ** 31)) * 2n ** BigInt(rng.int(33))), 'claim');
      const huge = { t: { dtype: 'F32', shape: [2 ** 24, 2 ** 24], data_offsets: [0, 2 ** 50] } };
      await run(safetensorsBytes(JSON.stringify(huge)), 'petabyte', 2 ** 50);
    }
    expect(cases).toBeGreaterThan(6000);
    // The mutations reach the deep checks, not only the JSON parser.
    for (const problem of ['bad-header', 'bad-json', 'bad-dtype', 'bad-layout', 'shape-mismatch', 'truncated']) {
      expect(outcome.problems.get(problem) ?? 0, `problem ${problem}`).toBeGreaterThan(0);
    }
    console.info(
      `fuzz: ${cases} cases, ${outcome.accepted} accepted, slowest ${outcome.slowestMs.toFixed(1)} ms, problems ${JSON.stringify(Object.fromEntries(outcome.problems))}`,
    );
  });

  it('survives deep nesting, long strings and many entries within the time bound', async () => {
    const rng = createRng(SEED + 1);
    const outcome: Outcome = { accepted: 0, problems: new Map(), slowestMs: 0 };
    const depth = 200_000;
    const cases: [string, string][] = [
      ['deep-array', `{"t": ${'['.repeat(depth)}${']'.repeat(depth)}}`],
      ['deep-object', `{"t": ${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`],
      ['deep-unclosed', `{"t": ${'['.repeat(depth)}`],
      ['long-name', JSON.stringify({ ['n'.repeat(1 << 20)]: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } })],
      ['long-dtype', JSON.stringify({ t: { dtype: randomString(rng, 10).repeat(50_000), shape: [], data_offsets: [0, 0] } })],
      ['long-metadata', JSON.stringify({ __metadata__: { k: 'v'.repeat(1 << 20) } })],
      ['huge-numbers', '{"t": {"dtype": "F32", "shape": [1e400, -1e400], "data_offsets": [0, 1e999]}}'],
      [
        'many-entries',
        JSON.stringify(Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`t${i}`, { dtype: 'F32', shape: [1], data_offsets: [4 * i, 4 * i + 4] }]))),
      ],
    ];
    for (const [label, text] of cases) {
      const dataBytes = label === 'many-entries' ? 200_000 : label === 'long-name' ? 4 : 0;
      await runCase(safetensorsBytes(text, dataBytes), outcome, label, undefined, LARGE_CASE_TIME_LIMIT_MS);
    }
    // 'many-entries', 'long-name' and 'long-metadata' are valid files.
    expect(outcome.accepted).toBe(3);
    console.info(`large headers: slowest ${outcome.slowestMs.toFixed(1)} ms`);
  });
});
