/**
 * Reads a stored (method 0) ZIP archive back by its central directory, ZIP64 records and extra fields included: an
 * independent reader of what src/lab/zip.ts writes, for the unit test of the writer and the e2e downloads.
 */

/** Throws unless `actual` is `expected` (the archive is not what a stored ZIP must be at that offset). */
function expectField(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new Error(`zip: ${what} is 0x${actual.toString(16)}, expected 0x${expected.toString(16)}`);
}

export interface ZipFile {
  name: string;
  data: Buffer;
  crc: number;
}

export function readZip(zip: Buffer): ZipFile[] {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('zip: no end of central directory record');
  let count = zip.readUInt16LE(eocd + 10);
  let cd = zip.readUInt32LE(eocd + 16);
  if (cd === 0xffffffff) {
    const locator = eocd - 20;
    expectField(zip.readUInt32LE(locator), 0x07064b50, 'ZIP64 locator signature');
    const record = Number(zip.readBigUInt64LE(locator + 8));
    expectField(zip.readUInt32LE(record), 0x06064b50, 'ZIP64 end record signature');
    count = Number(zip.readBigUInt64LE(record + 32));
    cd = Number(zip.readBigUInt64LE(record + 48));
  }
  const out: ZipFile[] = [];
  for (let i = 0; i < count; i++) {
    expectField(zip.readUInt32LE(cd), 0x02014b50, `central directory entry ${i} signature`);
    expectField(zip.readUInt16LE(cd + 10), 0, `entry ${i} method (stored)`);
    const crc = zip.readUInt32LE(cd + 16);
    let size = zip.readUInt32LE(cd + 24);
    const nameLength = zip.readUInt16LE(cd + 28);
    const extraLength = zip.readUInt16LE(cd + 30);
    let offset = zip.readUInt32LE(cd + 42);
    const name = zip.subarray(cd + 46, cd + 46 + nameLength).toString('utf8');
    let extra = cd + 46 + nameLength;
    if (extraLength) {
      expectField(zip.readUInt16LE(extra), 1, `entry ${name} extra field id (ZIP64)`);
      extra += 4;
      if (size === 0xffffffff) {
        size = Number(zip.readBigUInt64LE(extra));
        extra += 16;
      }
      if (offset === 0xffffffff) offset = Number(zip.readBigUInt64LE(extra));
    }
    expectField(zip.readUInt32LE(offset), 0x04034b50, `local header of ${name}`);
    const start = offset + 30 + zip.readUInt16LE(offset + 26) + zip.readUInt16LE(offset + 28);
    out.push({ name, data: zip.subarray(start, start + size), crc });
    cd += 46 + nameLength + extraLength + zip.readUInt16LE(cd + 32);
  }
  return out;
}
