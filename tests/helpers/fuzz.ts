/**
 * Seeded mutators and generators for fuzz tests (src/engine/random.ts, so a failing case is reproducible from its
 * seed and index): byte-level bit flips, truncations and splices, JSON-aware edits of real headers, random JSON
 * (huge numbers, deep nesting, long strings) and random bytes.
 */
import type { Rng } from '../../src/engine/random.ts';

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

/** Numbers a hostile header might hold: edges of u32/u64/2^53, negatives, fractions, exponents. */
export function hostileNumber(rng: Rng): number {
  return pick(rng, [
    0,
    1,
    -1,
    2,
    7,
    0.5,
    -0,
    1e308,
    -1e308,
    2 ** 31,
    2 ** 32,
    2 ** 32 - 1,
    2 ** 53 - 1,
    2 ** 53,
    2 ** 53 + 2,
    2 ** 62,
    2 ** 64,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    rng.int(1 << 16),
    rng.int(2 ** 31),
    rng.next() * 1e6,
  ]);
}

export function randomString(rng: Rng, maxLength = 24): string {
  const alphabet = 'abcXYZ019_.-"\\/{}[]:, \n\t\u00e9\u4e2d\ud83d\ude00\u0000';
  let out = '';
  const length = rng.int(maxLength + 1);
  for (let i = 0; i < length; i++) out += alphabet[rng.int(alphabet.length)];
  return out;
}

/** A random JSON value, nested at most `depth` deep. */
export function randomJson(rng: Rng, depth = 4): unknown {
  const kind = rng.int(depth > 0 ? 7 : 4);
  switch (kind) {
    case 0:
      return hostileNumber(rng);
    case 1:
      return randomString(rng);
    case 2:
      return pick(rng, [true, false, null]);
    case 3:
      return pick(rng, ['F32', 'F16', 'BF16', 'I64', 'F64', 'U8', 'constructor', '__proto__', '']);
    case 4:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth - 1));
    default: {
      const out: Record<string, unknown> = {};
      const keys = ['dtype', 'shape', 'data_offsets', '__metadata__', 'weight', randomString(rng, 8)];
      for (let i = rng.int(5); i > 0; i--) out[pick(rng, keys)] = randomJson(rng, depth - 1);
      return out;
    }
  }
}

export function randomBytes(rng: Rng, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

/** Flips 1..8 random bits. */
export function flipBits(rng: Rng, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  for (let i = 1 + rng.int(8); i > 0 && out.length; i--) out[rng.int(out.length)] ^= 1 << rng.int(8);
  return out;
}

/** Overwrites a few random bytes with structural JSON characters or digits. */
export function stampBytes(rng: Rng, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const stamps = new TextEncoder().encode('{}[]",:0123456789-e.');
  for (let i = 1 + rng.int(4); i > 0 && out.length; i--) out[rng.int(out.length)] = stamps[rng.int(stamps.length)];
  return out;
}

/** The start of `a` joined to the end of `b` at random cut points. */
export function splice(rng: Rng, a: Uint8Array, b: Uint8Array): Uint8Array {
  const head = a.subarray(0, rng.int(a.length + 1));
  const tail = b.subarray(rng.int(b.length + 1));
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

/** A JSON-aware edit of one tensor entry (or the metadata) of a parsed header. */
export function mutateHeaderObject(rng: Rng, header: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(header);
  const names = Object.keys(out);
  const name = pick(rng, names);
  const entry = out[name] as Record<string, unknown> | undefined;
  switch (rng.int(9)) {
    case 0:
      delete out[name];
      break;
    case 1:
      out[`${name}${randomString(rng, 4)}`] = structuredClone(entry);
      break;
    case 2:
      if (entry && typeof entry === 'object') entry.dtype = randomJson(rng, 1);
      break;
    case 3:
      if (entry && typeof entry === 'object') entry.shape = Array.from({ length: rng.int(5) }, () => hostileNumber(rng));
      break;
    case 4:
      if (entry && typeof entry === 'object') entry.data_offsets = [hostileNumber(rng), hostileNumber(rng)];
      break;
    case 5:
      if (entry && typeof entry === 'object' && Array.isArray(entry.data_offsets)) {
        const [begin, end] = entry.data_offsets as number[];
        const shift = pick(rng, [-4, -2, 2, 4, 8]);
        entry.data_offsets = rng.int(2) ? [begin + shift, end] : [begin, end + shift];
      }
      break;
    case 6:
      out[name] = randomJson(rng, 3);
      break;
    case 7:
      out.__metadata__ = randomJson(rng, 2);
      break;
    default:
      if (entry && typeof entry === 'object') delete entry[pick(rng, ['dtype', 'shape', 'data_offsets'])];
  }
  return out;
}
