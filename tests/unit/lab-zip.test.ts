import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { crc32, zipStored } from '../../src/lab/zip.ts';

const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));

/** Reads a stored archive back by its central directory (an independent reader: ZIP64 extra fields included). */
function readZip(zip: Buffer): { name: string; data: Buffer; crc: number }[] {
  let eocd = zip.length - 22;
  while (zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  let count = zip.readUInt16LE(eocd + 10);
  let cd = zip.readUInt32LE(eocd + 16);
  if (cd === 0xffffffff) {
    const locator = eocd - 20;
    expect(zip.readUInt32LE(locator)).toBe(0x07064b50);
    const record = Number(zip.readBigUInt64LE(locator + 8));
    expect(zip.readUInt32LE(record)).toBe(0x06064b50);
    count = Number(zip.readBigUInt64LE(record + 32));
    cd = Number(zip.readBigUInt64LE(record + 48));
  }
  const out: { name: string; data: Buffer; crc: number }[] = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(cd)).toBe(0x02014b50);
    expect(zip.readUInt16LE(cd + 10)).toBe(0); // stored
    const crc = zip.readUInt32LE(cd + 16);
    let size = zip.readUInt32LE(cd + 24);
    const nameLength = zip.readUInt16LE(cd + 28);
    const extraLength = zip.readUInt16LE(cd + 30);
    let offset = zip.readUInt32LE(cd + 42);
    const name = zip.subarray(cd + 46, cd + 46 + nameLength).toString('utf8');
    let extra = cd + 46 + nameLength;
    if (extraLength) {
      expect(zip.readUInt16LE(extra)).toBe(1);
      extra += 4;
      if (size === 0xffffffff) {
        size = Number(zip.readBigUInt64LE(extra));
        extra += 16;
      }
      if (offset === 0xffffffff) offset = Number(zip.readBigUInt64LE(extra));
    }
    expect(zip.readUInt32LE(offset)).toBe(0x04034b50);
    const start = offset + 30 + zip.readUInt16LE(offset + 26) + zip.readUInt16LE(offset + 28);
    out.push({ name, data: zip.subarray(start, start + size), crc });
    cd += 46 + nameLength + extraLength + zip.readUInt16LE(cd + 32);
  }
  return out;
}

describe('zip writer', () => {
  it('computes CRC-32 as zlib does', () => {
    const rng = createRng(5);
    for (const n of [0, 1, 7, 1000, 65537]) {
      const bytes = Uint8Array.from({ length: n }, () => rng.int(256));
      expect(crc32(bytes)).toBe(zlibCrc32(bytes));
    }
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  const entries = [
    { path: 'model/config.json', bytes: new TextEncoder().encode('{"model_type": "mixtral"}\n') },
    { path: 'model/empty.txt', bytes: new Uint8Array(0) },
    { path: 'model/naïve ü.bin', bytes: Uint8Array.from({ length: 3000 }, (_, i) => (i * 31) & 255) },
  ];

  for (const [label, threshold] of [
    ['plain', undefined],
    ['ZIP64 forced', 16],
  ] as const) {
    it(`writes stored entries that read back exactly (${label})`, () => {
      const zip = concat(zipStored(entries, new Date(2024, 5, 1, 12, 30, 10), threshold));
      const back = readZip(zip);
      expect(back.map((e) => e.name)).toEqual(entries.map((e) => e.path));
      back.forEach((e, i) => {
        expect(Buffer.compare(e.data, Buffer.from(entries[i].bytes))).toBe(0);
        expect(e.crc).toBe(zlibCrc32(entries[i].bytes));
      });
      // Info-ZIP's own check, where the machine has it (Debian's unzip).
      let unzip = true;
      try {
        execFileSync('unzip', ['-v'], { stdio: 'ignore' });
      } catch {
        unzip = false;
      }
      if (unzip) {
        const file = join(mkdtempSync(join(tmpdir(), 'moe-lab-zip-')), 'test.zip');
        writeFileSync(file, zip);
        expect(execFileSync('unzip', ['-t', file], { encoding: 'utf8' })).toContain('No errors detected');
      }
    });
  }

  it('refuses paths that would escape the archive or repeat', () => {
    expect(() => zipStored([{ path: '../x', bytes: new Uint8Array(1) }])).toThrow('bad entry path');
    expect(() => zipStored([{ path: '/x', bytes: new Uint8Array(1) }])).toThrow('bad entry path');
    expect(() => zipStored([entries[0], entries[0]])).toThrow('two entries named');
  });
});
