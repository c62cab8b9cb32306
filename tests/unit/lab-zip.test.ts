import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { crc32, zipStored } from '../../src/lab/zip.ts';
import { readZip } from '../helpers/zip-reader.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));

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
        const file = join(scratchDir('moe-lab-zip-'), 'test.zip');
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
