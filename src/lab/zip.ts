/**
 * A minimal ZIP writer for downloads (PKWARE APPNOTE 6.3.10): every entry stored (method 0, no compression —
 * safetensors weights barely compress and storing keeps it one pass), UTF-8 names (flag bit 11), CRC-32, and
 * ZIP64 records when a size or offset passes 4 GiB, as large checkpoints do. The archive comes back as a list of
 * byte parts, so the page can make a Blob of it without copying the file data once more.
 */

/** CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320), as ZIP, gzip and PNG use. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

export interface ZipEntry {
  /** Path inside the archive, '/'-separated. */
  path: string;
  bytes: Uint8Array;
}

const ZIP32_MAX = 0xffffffff;
const UTF8_NAMES = 0x0800;

/** MS-DOS time and date of `date` (local time, 2-second resolution; years 1980-2107). */
function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.min(2107, Math.max(1980, date.getFullYear()));
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private at = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u16(v: number): this {
    this.view.setUint16(this.at, v, true);
    this.at += 2;
    return this;
  }
  u32(v: number): this {
    this.view.setUint32(this.at, v >>> 0, true);
    this.at += 4;
    return this;
  }
  u64(v: number): this {
    this.view.setBigUint64(this.at, BigInt(v), true);
    this.at += 8;
    return this;
  }
  raw(b: Uint8Array): this {
    this.bytes.set(b, this.at);
    this.at += b.length;
    return this;
  }
}

/**
 * The archive of `entries` in order, as parts to concatenate (e.g. `new Blob(parts)`). `zip64From` is where ZIP64
 * starts (4 GiB - 1 by the format; lower only to test the ZIP64 layout on small data).
 */
export function zipStored(entries: readonly ZipEntry[], modified = new Date(), zip64From = ZIP32_MAX): Uint8Array[] {
  const encoder = new TextEncoder();
  const { time, date } = dosDateTime(modified);
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const entry of entries) {
    if (!entry.path || entry.path.startsWith('/') || entry.path.split('/').includes('..'))
      throw new RangeError(`zip: bad entry path ${JSON.stringify(entry.path)}`);
    if (seen.has(entry.path)) throw new RangeError(`zip: two entries named ${entry.path}`);
    seen.add(entry.path);
    const name = encoder.encode(entry.path);
    const size = entry.bytes.length;
    const crc = crc32(entry.bytes);
    const zip64 = size >= zip64From || offset >= zip64From;
    // Local header: ZIP64 sizes go in an extra field (both sizes), with 0xffffffff in the 32-bit fields.
    const localExtra = zip64 ? 20 : 0;
    const local = new Writer(30 + name.length + localExtra)
      .u32(0x04034b50)
      .u16(zip64 ? 45 : 20)
      .u16(UTF8_NAMES)
      .u16(0)
      .u16(time)
      .u16(date)
      .u32(crc)
      .u32(zip64 ? ZIP32_MAX : size)
      .u32(zip64 ? ZIP32_MAX : size)
      .u16(name.length)
      .u16(localExtra)
      .raw(name);
    if (zip64) local.u16(0x0001).u16(16).u64(size).u64(size);
    parts.push(local.bytes, entry.bytes);
    // Central header: the ZIP64 field holds, in order, only the values that overflowed.
    const big = { size: size >= zip64From, offset: offset >= zip64From };
    const fields = (big.size ? 2 : 0) + (big.offset ? 1 : 0);
    const centralExtra = fields ? 4 + 8 * fields : 0;
    const header = new Writer(46 + name.length + centralExtra)
      .u32(0x02014b50)
      .u16(zip64 ? 45 : 20)
      .u16(zip64 ? 45 : 20)
      .u16(UTF8_NAMES)
      .u16(0)
      .u16(time)
      .u16(date)
      .u32(crc)
      .u32(big.size ? ZIP32_MAX : size)
      .u32(big.size ? ZIP32_MAX : size)
      .u16(name.length)
      .u16(centralExtra)
      .u16(0)
      .u16(0)
      .u16(0)
      .u32(0)
      .u32(big.offset ? ZIP32_MAX : offset)
      .raw(name);
    if (fields) {
      header.u16(0x0001).u16(8 * fields);
      if (big.size) header.u64(size).u64(size);
      if (big.offset) header.u64(offset);
    }
    central.push(header.bytes);
    offset += local.bytes.length + size;
  }
  const centralSize = central.reduce((n, b) => n + b.length, 0);
  const centralOffset = offset;
  parts.push(...central);
  const count = entries.length;
  const zip64End = count >= 0xffff || centralOffset >= zip64From || centralSize >= zip64From;
  if (zip64End) {
    // ZIP64 end of central directory record, then its locator.
    parts.push(
      new Writer(56).u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(count).u64(count).u64(centralSize).u64(centralOffset).bytes,
      new Writer(20)
        .u32(0x07064b50)
        .u32(0)
        .u64(centralOffset + centralSize)
        .u32(1).bytes,
    );
  }
  parts.push(
    new Writer(22)
      .u32(0x06054b50)
      .u16(0)
      .u16(0)
      .u16(zip64End ? 0xffff : count)
      .u16(zip64End ? 0xffff : count)
      .u32(zip64End ? ZIP32_MAX : centralSize)
      .u32(zip64End ? ZIP32_MAX : centralOffset)
      .u16(0).bytes,
  );
  return parts;
}
