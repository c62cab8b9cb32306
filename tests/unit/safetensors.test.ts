/**
 * The safetensors reader against every check of the reference implementation (huggingface/safetensors
 * `read_metadata` + `Metadata::validate`): each hostile file gives a ModelFileError with the expected `problem`,
 * a one-line message that names the file.
 */
import { describe, expect, it } from 'vitest';
import { ModelFileError, type ModelFileProblem } from '../../src/engine/errors.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { bytesToFloat32, f16ToF32, MAX_HEADER_BYTES, readSafetensorsHeader, readTensorBytes, writeSafetensors } from '../../src/engine/io/safetensors.ts';
import { headerJson, safetensorsBytes, validTwoTensorFile } from '../helpers/safetensors-bytes.ts';

const FILE = 'models/hostile/model.safetensors';

async function rejection(bytes: Uint8Array): Promise<ModelFileError> {
  try {
    await readSafetensorsHeader(new MemoryByteSource(FILE, bytes));
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw error;
    return error;
  }
  throw new Error('the file was accepted');
}

async function expectProblem(bytes: Uint8Array, problem: ModelFileProblem, detail?: RegExp): Promise<ModelFileError> {
  const error = await rejection(bytes);
  expect(error.problem, error.message).toBe(problem);
  expect(error.file).toBe(FILE);
  expect(error.message.startsWith(`${FILE}: `)).toBe(true);
  expect(error.message).not.toMatch(/[\n\r]/);
  if (detail) expect(error.detail).toMatch(detail);
  return error;
}

/** One tensor entry, with defaults that make a valid F32 [2] tensor at [0, 8). */
function tensorFile(entry: Record<string, unknown>, dataBytes = 8): Uint8Array {
  return safetensorsBytes(headerJson({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...entry } }), dataBytes);
}

describe('safetensors header: accepted files', () => {
  it('reads tensors, metadata and absolute offsets', async () => {
    const bytes = validTwoTensorFile();
    const header = await readSafetensorsHeader(new MemoryByteSource(FILE, bytes));
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(header.headerLength).toBe(headerLength);
    expect(header.fileSize).toBe(bytes.byteLength);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.tensors.get('a')).toEqual({ name: 'a', dtype: 'F32', shape: [2, 3], byteOffset: 8 + headerLength, byteLength: 24 });
    expect(header.tensors.get('b')).toEqual({ name: 'b', dtype: 'F16', shape: [4], byteOffset: 8 + headerLength + 24, byteLength: 8 });
  });

  it('accepts entries listed in any order, zero-size and scalar tensors, null metadata and trailing spaces', async () => {
    const text = headerJson({
      __metadata__: null,
      late: { dtype: 'I64', shape: [], data_offsets: [4, 12] },
      empty: { dtype: 'BF16', shape: [0, 7], data_offsets: [4, 4] },
      early: { dtype: 'I32', shape: [1], data_offsets: [0, 4] },
    });
    const header = await readSafetensorsHeader(new MemoryByteSource(FILE, safetensorsBytes(`${text}    `, 12)));
    expect([...header.tensors.keys()]).toEqual(['early', 'empty', 'late']);
    expect(header.tensors.get('empty')!.byteLength).toBe(0);
    expect(header.tensors.get('late')!.shape).toEqual([]);
  });

  it('accepts an empty header {} with no data', async () => {
    const header = await readSafetensorsHeader(new MemoryByteSource(FILE, safetensorsBytes('{}')));
    expect(header.tensors.size).toBe(0);
  });

  it('keeps a metadata key named __proto__ as data', async () => {
    const header = await readSafetensorsHeader(new MemoryByteSource(FILE, safetensorsBytes('{"__metadata__":{"__proto__":"x","a":"b"}}')));
    expect(Object.getPrototypeOf(header.metadata)).toBe(Object.prototype);
    expect(Object.keys(header.metadata).sort()).toEqual(['__proto__', 'a']);
  });

  it('round-trips writeSafetensors, padded to 8 bytes, and reads values back', async () => {
    const f32 = new Float32Array([1.5, -2, 3.25]);
    const bytes = writeSafetensors(
      [
        { name: 'x', dtype: 'F32', shape: [3], data: new Uint8Array(f32.buffer) },
        { name: 'h', dtype: 'F16', shape: [2], data: new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer) },
        { name: 'b', dtype: 'BF16', shape: [2], data: new Uint8Array(new Uint16Array([0x3fc0, 0xc0a0]).buffer) },
        { name: 'i', dtype: 'I64', shape: [1], data: new Uint8Array(new BigInt64Array([-5n]).buffer) },
      ],
      { note: 'test' },
    );
    const source = new MemoryByteSource(FILE, bytes);
    const header = await readSafetensorsHeader(source);
    expect(header.headerLength % 8).toBe(0);
    expect(header.metadata).toEqual({ note: 'test' });
    const values = async (name: string) => Array.from(bytesToFloat32(header.tensors.get(name)!, await readTensorBytes(source, header.tensors.get(name)!)));
    expect(await values('x')).toEqual([1.5, -2, 3.25]);
    expect(await values('h')).toEqual([1, -2]);
    expect(await values('b')).toEqual([1.5, -5]);
    expect(await values('i')).toEqual([-5]);
  });

  it('widens f16 exactly, subnormals, infinities and NaN included', () => {
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });
});

describe('safetensors header: each reference check', () => {
  it('refuses an empty file and one shorter than the 8-byte length', async () => {
    await expectProblem(new Uint8Array(0), 'truncated', /0 bytes/);
    await expectProblem(new Uint8Array(5), 'truncated');
  });

  it('refuses a header length over 100 MB (HeaderTooLarge), 2^62 included', async () => {
    await expectProblem(safetensorsBytes('{}', 0, 2n ** 62n), 'bad-header', /exceeds/);
    await expectProblem(safetensorsBytes('{}', 0, BigInt(MAX_HEADER_BYTES + 1)), 'bad-header', /exceeds/);
    await expectProblem(safetensorsBytes('{}', 0, 2n ** 64n - 1n), 'bad-header');
  });

  it('refuses a header length past the end of the file (InvalidHeaderLength)', async () => {
    await expectProblem(safetensorsBytes('{}', 0, 3n), 'truncated', /past the end/);
    await expectProblem(safetensorsBytes('{}', 0, 1000n), 'truncated', /past the end/);
  });

  it('refuses a header that is not UTF-8 (InvalidHeader)', async () => {
    await expectProblem(safetensorsBytes(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 'bad-header', /UTF-8/);
  });

  it('refuses a header that does not start with "{", a byte-order mark included', async () => {
    await expectProblem(safetensorsBytes('[1, 2]'), 'bad-header', /JSON object/);
    await expectProblem(safetensorsBytes(' {}'), 'bad-header');
    await expectProblem(safetensorsBytes('\ufeff{}'), 'bad-header');
  });

  it('refuses a header that is not valid JSON (InvalidHeaderDeserialization)', async () => {
    await expectProblem(safetensorsBytes('{"a": '), 'bad-json', /not valid JSON/);
    await expectProblem(safetensorsBytes('{} trailing'), 'bad-json');
  });

  it('refuses __metadata__ that is not a map of strings', async () => {
    await expectProblem(safetensorsBytes('{"__metadata__": [1]}'), 'bad-header', /__metadata__/);
    await expectProblem(safetensorsBytes('{"__metadata__": {"k": 1}}'), 'bad-header', /'k' is not a string/);
  });

  it('refuses tensor entries of the wrong type', async () => {
    await expectProblem(safetensorsBytes('{"t": 5}'), 'bad-header', /'t': entry is not an object/);
    await expectProblem(tensorFile({ dtype: undefined }), 'bad-header', /dtype missing/);
    await expectProblem(tensorFile({ dtype: 7 }), 'bad-header', /dtype missing/);
  });

  it('refuses unknown dtypes, and names the known ones it does not compute with', async () => {
    await expectProblem(tensorFile({ dtype: 'F128' }), 'bad-dtype', /unknown dtype 'F128'/);
    await expectProblem(tensorFile({ dtype: 'constructor' }), 'bad-dtype', /unknown dtype/);
    await expectProblem(tensorFile({ dtype: 'toString' }), 'bad-dtype', /unknown dtype/);
    await expectProblem(tensorFile({ dtype: 'F64' }), 'bad-dtype', /F64 is not supported/);
    await expectProblem(tensorFile({ dtype: 'F8_E4M3' }), 'bad-dtype', /not supported/);
  });

  it('refuses shapes that are not lists of non-negative integers', async () => {
    for (const shape of [[-1], [1.5], ['2'], 2, null, [2 ** 53]]) {
      await expectProblem(tensorFile({ shape }), 'bad-header', /shape is not a list/);
    }
  });

  it('refuses data_offsets that are not [begin, end] of non-negative integers', async () => {
    for (const offsets of [[0], [0, 8, 9], [-8, 0], [0, '8'], [0, 2 ** 53 + 2], 'x']) {
      await expectProblem(tensorFile({ data_offsets: offsets }), 'bad-header', /data_offsets/);
    }
  });

  it('refuses end before begin (InvalidOffset)', async () => {
    await expectProblem(tensorFile({ data_offsets: [8, 0] }), 'bad-layout', /before begin/);
  });

  it('refuses overlapping tensors, holes, and data that does not start at 0 (InvalidOffset)', async () => {
    const overlap = headerJson({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    });
    await expectProblem(safetensorsBytes(overlap, 12), 'bad-layout', /'b' overlaps/);
    const hole = headerJson({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
    });
    await expectProblem(safetensorsBytes(hole, 20), 'bad-layout', /hole in the data before tensor 'b'/);
    await expectProblem(tensorFile({ data_offsets: [4, 12] }, 12), 'bad-layout', /hole/);
    const aliased = headerJson({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    });
    await expectProblem(safetensorsBytes(aliased, 8), 'bad-layout', /overlaps/);
  });

  it('refuses a shape whose size does not match the byte range (TensorInvalidInfo)', async () => {
    await expectProblem(tensorFile({ shape: [3] }), 'shape-mismatch', /\[3\] of F32 is 12 bytes but data_offsets span 8/);
    await expectProblem(tensorFile({ dtype: 'F16' }), 'shape-mismatch');
  });

  it('refuses shapes whose size overflows (ValidationOverflow) without allocating', async () => {
    await expectProblem(tensorFile({ shape: [2 ** 30, 2 ** 30, 2 ** 30] }), 'bad-header', /overflows/);
    await expectProblem(tensorFile({ shape: [2 ** 52, 4] }), 'bad-header', /overflows/);
  });

  it('refuses a file shorter than 8 + N + end of data (MetadataIncompleteBuffer: truncated)', async () => {
    const full = validTwoTensorFile();
    await expectProblem(full.subarray(0, full.byteLength - 1), 'truncated', /truncated/);
    await expectProblem(tensorFile({ shape: [2 ** 40], data_offsets: [0, 2 ** 42] }), 'truncated');
  });

  it('refuses a file longer than 8 + N + end of data (MetadataIncompleteBuffer: trailing bytes)', async () => {
    const full = validTwoTensorFile();
    const longer = new Uint8Array(full.byteLength + 3);
    longer.set(full);
    await expectProblem(longer, 'bad-layout', /3 unexpected bytes/);
  });

  it('keeps messages to one bounded line whatever the tensor names hold', async () => {
    const name = `evil\nname\r\u2028${'x'.repeat(100_000)}`;
    const error = await expectProblem(safetensorsBytes(headerJson({ [name]: { dtype: 'Q9', shape: [], data_offsets: [0, 0] } })), 'bad-dtype');
    expect(error.message.length).toBeLessThan(600);
    expect(error.message).toContain('evil\\u000aname');
  });
});
