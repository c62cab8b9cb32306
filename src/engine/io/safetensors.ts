/**
 * safetensors: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the tensor data.
 * The checks are those of the reference implementation (huggingface/safetensors, `SafeTensors::read_metadata` and
 * `Metadata::validate`): header length bounded (100 MB) and inside the file, UTF-8 JSON object (the format spec
 * requires it to start with '{'; a byte-order mark is not stripped), known dtypes, shape x dtype size equal to the
 * byte range, tensors contiguous from offset 0 with no hole or overlap (checked in data order), and the file exactly
 * 8 + N + end of data long. All arithmetic is checked against Number.MAX_SAFE_INTEGER, nothing is allocated from a
 * size the header claims, and names from the file are bounded in messages, so a hostile header can neither
 * overflow, nor make us allocate, nor garble the one-line error.
 */
import { ModelFileError, quoted, type ModelFileProblem } from '../errors.ts';
import type { ByteSource } from './byte-source.ts';

/** The reference implementation refuses headers over 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

export type Dtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'U8';

export const DTYPE_BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };

/** Dtypes a reader must ask for (`HeaderOptions.extraDtypes`): U8 holds packed mask bits (masks.safetensors). */
const OPT_IN_DTYPES: ReadonlySet<Dtype> = new Set(['U8']);

export interface HeaderOptions {
  /** Opt-in dtypes this file may hold besides F32, F16, BF16, I32, I64 (e.g. ['U8'] for a masks file). */
  extraDtypes?: readonly Dtype[];
}

/** Dtypes the safetensors format defines that this engine does not compute with. */
const KNOWN_UNSUPPORTED = new Set([
  'BOOL',
  'I8',
  'I16',
  'U16',
  'U32',
  'U64',
  'F64',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'F8_E4M3FNUZ',
  'F8_E5M2FNUZ',
  'F6_E2M3',
  'F6_E3M2',
  'F4',
  'C64',
]);

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offset of the data in the file (8 + N + data_offsets[0]). */
  byteOffset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  file: string;
  headerLength: number;
  fileSize: number;
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
}

function fail(file: string, problem: ModelFileProblem, detail: string): never {
  throw new ModelFileError(file, problem, detail);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDtype(value: string): value is Dtype {
  // Own keys only: 'constructor' or 'toString' must not pass for a dtype.
  return Object.hasOwn(DTYPE_BYTES, value);
}

const isSize = (d: unknown): d is number => Number.isSafeInteger(d) && (d as number) >= 0;

/** Byte size of `shape` x `dtype`, or null when it exceeds 2^53 (reference: ValidationOverflow). */
function checkedByteSize(shape: number[], dtype: Dtype): number | null {
  let product = DTYPE_BYTES[dtype];
  for (const d of shape) {
    product *= d;
    if (!Number.isSafeInteger(product)) return null;
  }
  return product;
}

interface HeaderEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(file: string, name: string, value: unknown, options: HeaderOptions): HeaderEntry {
  const tensor = `tensor ${quoted(name)}`;
  if (!isPlainObject(value)) fail(file, 'bad-header', `${tensor}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') fail(file, 'bad-header', `${tensor}: dtype missing or not a string`);
  if (!isDtype(dtype) || (OPT_IN_DTYPES.has(dtype) && !options.extraDtypes?.includes(dtype))) {
    if (KNOWN_UNSUPPORTED.has(dtype) || OPT_IN_DTYPES.has(dtype as Dtype))
      fail(file, 'bad-dtype', `${tensor}: dtype ${dtype} is not supported (F32, F16, BF16, I32, I64 are)`);
    fail(file, 'bad-dtype', `${tensor}: unknown dtype ${quoted(dtype, 40)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isSize)) fail(file, 'bad-header', `${tensor}: shape is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
    fail(file, 'bad-header', `${tensor}: data_offsets is not [begin, end] of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(file, 'bad-layout', `${tensor}: data_offsets end ${end} is before begin ${begin}`);
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Validates the header JSON text against the file size; pure, so it can be fuzzed without any I/O. */
export function parseHeaderJson(file: string, text: string, headerLength: number, fileSize: number, options: HeaderOptions = {}): SafetensorsHeader {
  if (!text.startsWith('{')) fail(file, 'bad-header', 'header is not a JSON object (does not start with "{")');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(file, 'bad-json', `header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(json)) fail(file, 'bad-json', 'header is not a JSON object');
  const dataStart = 8 + headerLength;
  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name !== '__metadata__') {
      entries.push(parseEntry(file, name, value, options));
      continue;
    }
    // Reference: Option<HashMap<String, String>>, so null is "no metadata".
    if (value === null) continue;
    if (!isPlainObject(value)) fail(file, 'bad-header', '__metadata__ is not an object of strings');
    for (const [key, text] of Object.entries(value)) {
      if (typeof text !== 'string') fail(file, 'bad-header', `__metadata__ ${quoted(key)} is not a string`);
    }
    // fromEntries defines own properties, so a key such as "__proto__" stays data.
    metadata = Object.fromEntries(Object.entries(value)) as Record<string, string>;
  }
  // Contiguity, as the reference validates: sorted by (begin, end), each tensor starts where the previous ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedStart = 0;
  const tensors = new Map<string, TensorInfo>();
  for (const e of entries) {
    const tensor = `tensor ${quoted(e.name)}`;
    if (e.begin !== expectedStart) {
      fail(
        file,
        'bad-layout',
        e.begin < expectedStart
          ? `${tensor} overlaps the previous tensor (starts at ${e.begin}, previous ends at ${expectedStart})`
          : `hole in the data before ${tensor} (starts at ${e.begin}, expected ${expectedStart})`,
      );
    }
    const bytes = checkedByteSize(e.shape, e.dtype);
    if (bytes === null) fail(file, 'bad-header', `${tensor}: shape [${e.shape.slice(0, 8)}] of ${e.dtype} overflows`);
    if (bytes !== e.end - e.begin) {
      fail(file, 'shape-mismatch', `${tensor}: shape [${e.shape.slice(0, 8)}] of ${e.dtype} is ${bytes} bytes but data_offsets span ${e.end - e.begin}`);
    }
    expectedStart = e.end;
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, byteOffset: dataStart + e.begin, byteLength: bytes });
  }
  const expectedSize = dataStart + expectedStart;
  if (expectedSize > fileSize) {
    fail(file, 'truncated', `file is truncated: the header describes ${expectedSize} bytes, the file has ${fileSize}`);
  }
  if (expectedSize < fileSize) fail(file, 'bad-layout', `file has ${fileSize - expectedSize} unexpected bytes after the last tensor`);
  return { file, headerLength, fileSize, metadata, tensors };
}

/** Reads and validates the header of a safetensors file (two small reads, whatever the file size). */
export async function readSafetensorsHeader(source: ByteSource, options: HeaderOptions = {}): Promise<SafetensorsHeader> {
  const file = source.name;
  const fileSize = await source.size();
  if (fileSize < 8) fail(file, 'truncated', `file is ${fileSize} bytes, too short for a safetensors header`);
  const prefix = await source.read(0, 8);
  const declared = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(file, 'bad-header', `header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLength = Number(declared);
  if (8 + headerLength > fileSize) fail(file, 'truncated', `header length ${headerLength} runs past the end of the file (${fileSize} bytes)`);
  const headerBytes = await source.read(8, headerLength);
  let text: string;
  try {
    // ignoreBOM keeps a leading U+FEFF, which then fails the '{' check, as in the reference (str::from_utf8).
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail(file, 'bad-header', 'header is not valid UTF-8');
  }
  return parseHeaderJson(file, text, headerLength, fileSize, options);
}

/** f16 bits -> f32 value (exact). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Raw bytes of a tensor. */
export async function readTensorBytes(source: ByteSource, info: TensorInfo): Promise<Uint8Array> {
  return source.read(info.byteOffset, info.byteLength);
}

/** A tensor's values as f32 (F16/BF16 widened exactly, I32/I64 converted). */
export function bytesToFloat32(info: TensorInfo, bytes: Uint8Array): Float32Array {
  const count = info.byteLength / DTYPE_BYTES[info.dtype];
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (info.dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = f16ToF32(view.getUint16(2 * i, true));
      break;
    case 'BF16': {
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(2 * i, true) << 16, true);
        out[i] = word.getFloat32(0, true);
      }
      break;
    }
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      break;
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      break;
    case 'U8':
      out.set(bytes.subarray(0, count));
      break;
  }
  return out;
}

/** Serializes tensors into a safetensors file (for `moe-lab logits`, statistics, masks and exports). */
export function writeSafetensors(tensors: { name: string; dtype: Dtype; shape: number[]; data: Uint8Array }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (expected !== t.data.byteLength) throw new Error(`writeSafetensors: ${t.name} has ${t.data.byteLength} bytes, shape needs ${expected}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  const headerBytes = new Uint8Array(Math.ceil(json.byteLength / 8) * 8).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setUint32(0, headerBytes.byteLength, true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}
