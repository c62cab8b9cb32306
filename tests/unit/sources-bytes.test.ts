/**
 * Byte sources: memory, Blob/File, the filesystem (a sparse 3 GB file is opened without allocating it) and HTTP
 * (a local 127.0.0.1 server with Range support, one that ignores Range, and the failures in between).
 */
import { closeSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryFolder, FileByteSource, directoryFolder } from '../../src/cli/fs-folder.ts';
import { ModelFileError, type ModelFileProblem } from '../../src/engine/errors.ts';
import { BlobByteSource, HttpByteSource, MemoryByteSource, type ByteSource } from '../../src/engine/io/byte-source.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { startRangeServer, type RangeServer } from '../helpers/range-server.ts';
import { safetensorsBytes, validTwoTensorFile } from '../helpers/safetensors-bytes.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const scratch = scratchDir();

async function expectProblem(promise: Promise<unknown>, problem: ModelFileProblem, file: string): Promise<ModelFileError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelFileError);
  expect((error as ModelFileError).problem, (error as Error).message).toBe(problem);
  expect((error as ModelFileError).message.startsWith(`${file}: `)).toBe(true);
  return error as ModelFileError;
}

/** Every source must give exactly the bytes asked for and refuse reads outside the file before doing any I/O. */
async function checkSource(source: ByteSource, bytes: Uint8Array): Promise<void> {
  expect(await source.size()).toBe(bytes.byteLength);
  expect(Array.from(await source.read(0, 8))).toEqual(Array.from(bytes.subarray(0, 8)));
  expect(Array.from(await source.read(bytes.byteLength - 5, 5))).toEqual(Array.from(bytes.subarray(-5)));
  expect((await source.read(3, 0)).byteLength).toBe(0);
  for (const [offset, length] of [
    [bytes.byteLength - 2, 3],
    [-1, 2],
    [0, 2 ** 60],
    [0.5, 1],
    [Number.NaN, 1],
  ]) {
    await expectProblem(source.read(offset, length), 'truncated', source.name);
  }
}

const fixtureFile = join(fixtureDir('mixtral'), 'model.safetensors');
const fixtureBytes = new Uint8Array(readFileSync(fixtureFile));

describe('memory, Blob and File sources', () => {
  it('MemoryByteSource reads ranges and refuses reads past the end', async () => {
    await checkSource(new MemoryByteSource('mem.safetensors', fixtureBytes), fixtureBytes);
  });

  it('BlobByteSource reads a Blob and a File lazily by range', async () => {
    await checkSource(new BlobByteSource('blob.safetensors', new Blob([fixtureBytes])), fixtureBytes);
    const file = new File([fixtureBytes], 'model.safetensors');
    const header = await readSafetensorsHeader(new BlobByteSource('dropped/model.safetensors', file));
    expect(header.tensors.size).toBe(Object.keys(JSON.parse(new TextDecoder().decode(fixtureBytes.subarray(8, 8 + header.headerLength)))).length - 1);
  });
});

describe('filesystem source', () => {
  it('FileByteSource reads by range', async () => {
    await checkSource(new FileByteSource(fixtureFile), fixtureBytes);
  });

  it('opens a sparse 3 GB checkpoint and reads its header and last bytes without allocating the file', async () => {
    const path = join(scratch, 'sparse-3g.safetensors');
    const size = 3 * 2 ** 30;
    // One F32 tensor filling the rest of the file: 8 + N + 4 * count = 3 GiB, the header padded to N bytes.
    const headerOfLength = (n: number) =>
      JSON.stringify({ big: { dtype: 'F32', shape: [(size - 8 - n) / 4], data_offsets: [0, size - 8 - n] } }).padEnd(n, ' ');
    const header = headerOfLength(128);
    expect(header.length).toBe(128);
    const fd = openSync(path, 'w');
    writeSync(fd, safetensorsBytes(header));
    closeSync(fd);
    truncateSync(path, size);
    global.gc?.();
    const before = process.memoryUsage();
    const reads: number[] = [];
    const file = new FileByteSource(path);
    const counted: ByteSource = { name: file.name, size: () => file.size(), read: (o, l) => (reads.push(l), file.read(o, l)) };
    const parsed = await readSafetensorsHeader(counted);
    const tail = await file.read(size - 16, 16);
    const after = process.memoryUsage();
    expect(parsed.fileSize).toBe(size);
    expect(parsed.tensors.get('big')!.byteLength).toBe(size - 8 - header.length);
    expect(Array.from(tail)).toEqual(new Array(16).fill(0));
    expect(reads.reduce((a, b) => a + b, 0)).toBe(8 + header.length);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 << 20);
    expect(after.rss - before.rss).toBeLessThan(256 << 20);
  });

  it('names a missing file, and a folder that is missing or a file', async () => {
    const missing = join(scratch, 'nope.safetensors');
    await expectProblem(new FileByteSource(missing).size(), 'missing-file', missing);
    expect(await new DirectoryFolder(scratch).open('nope.json')).toBeNull();
    await expectProblem(directoryFolder(join(scratch, 'no-such-dir')), 'missing-file', join(scratch, 'no-such-dir'));
    await expectProblem(directoryFolder(fixtureFile), 'missing-file', fixtureFile);
  });
});

describe('HTTP source (local server)', () => {
  const big = new Uint8Array(48 << 20).map((_, i) => (i * 7) & 0xff);
  const files = { 'model.safetensors': fixtureBytes, 'big.bin': big, 'empty.bin': new Uint8Array(0), 'two.safetensors': validTwoTensorFile() };
  let server: RangeServer;
  let lenient: RangeServer;
  beforeAll(async () => {
    server = await startRangeServer(files);
    lenient = await startRangeServer(files, { ignoreRange: true });
  });
  afterAll(async () => {
    await server.close();
    await lenient.close();
  });

  it('reads ranges with Range requests and validates a safetensors header over HTTP', async () => {
    const source = new HttpByteSource('remote/model.safetensors', `${server.baseUrl}model.safetensors`);
    await checkSource(source, fixtureBytes);
    const header = await readSafetensorsHeader(source);
    expect(header.fileSize).toBe(fixtureBytes.byteLength);
    expect(server.requests.every((r) => r.range !== null)).toBe(true);
  });

  it('takes a known size without asking, and gets 0 for an empty file (416)', async () => {
    const requestsBefore = server.requests.length;
    expect(await new HttpByteSource('x', `${server.baseUrl}big.bin`, undefined, big.byteLength).size()).toBe(big.byteLength);
    expect(server.requests.length).toBe(requestsBefore);
    expect(await new HttpByteSource('empty', `${server.baseUrl}empty.bin`).size()).toBe(0);
  });

  it('works with a server that ignores Range, stopping the download once the bytes are in', async () => {
    const source = new HttpByteSource('lenient/big.bin', `${lenient.baseUrl}big.bin`);
    expect(await source.size()).toBe(big.byteLength);
    const slice = await source.read(1000, 16);
    expect(Array.from(slice)).toEqual(Array.from(big.subarray(1000, 1016)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Two requests of a 48 MiB file, each dropped after the first chunks.
    expect(lenient.bytesSent()).toBeLessThan(big.byteLength / 2);
    console.info(`server ignoring Range sent ${lenient.bytesSent()} of 2 x ${big.byteLength} bytes`);
    const header = await readSafetensorsHeader(new HttpByteSource('lenient/two.safetensors', `${lenient.baseUrl}two.safetensors`));
    expect([...header.tensors.keys()]).toEqual(['a', 'b']);
  });

  it('names 404s, unreachable servers, wrong ranges and short bodies', async () => {
    await expectProblem(new HttpByteSource('r/missing', `${server.baseUrl}missing`).size(), 'missing-file', 'r/missing');
    // A port nothing listens on: the server just closed.
    const closed = await startRangeServer({});
    const deadUrl = `${closed.baseUrl}model.safetensors`;
    await closed.close();
    const dead = await expectProblem(new HttpByteSource('r/dead', deadUrl).size(), 'network', 'r/dead');
    expect(dead.detail).toMatch(/could not reach/);
    const wrongRange: typeof fetch = async () => new Response(new Uint8Array(4), { status: 206, headers: { 'content-range': 'bytes 0-3/100' } });
    await expectProblem(new HttpByteSource('r/shifted', 'https://x/m', wrongRange, 100).read(50, 4), 'network', 'r/shifted');
    const shortBody: typeof fetch = async () => new Response(new Uint8Array(2), { status: 206, headers: { 'content-range': 'bytes 50-53/100' } });
    await expectProblem(new HttpByteSource('r/short', 'https://x/m', shortBody, 100).read(50, 4), 'truncated', 'r/short');
    const noLength: typeof fetch = async () => new Response('abc', { status: 200 });
    await expectProblem(new HttpByteSource('r/nolength', 'https://x/m', noLength).size(), 'network', 'r/nolength');
  });
});
