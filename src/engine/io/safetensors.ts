/**
 * safetensors: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the tensor data.
 * The checks are those of the reference implementation (huggingface/safetensors, `SafeTensors::read_metadata` and
 * `Metadata::validate`): header length bounded (100 MB) and inside the file, the JSON an object that starts
 * with '{', known dtypes, shape x dtype size equal to the byte range, tensors contiguous from offset 0 with no hole
 * or overlap (checked in data order), and the file exactly 8 + N + end of data long. All arithmetic is checked
 * against Number.MAX_SAFE_INTEGER, so a hostile header can neither overflow nor make us allocate.
 */
import { ModelFileError } from '../errors.ts';
import type { ByteSource } from './byte-source.ts';

/** The reference implementation refuses headers over 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

export type Dtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

export const DTYPE_BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };

/** Dtypes the safetensors format defines that this engine does not compute with. */
const KNOWN_UNSUPPORTED = new Set([
  'BOOL', 'U8', 'I8', 'I16', 'U16', 'U32', 'U64', 'F64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64',
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

function fail(file: string, problem: ConstructorParameters<typeof ModelFileError>[1], detail: string): never {
  throw new ModelFileError(file, problem, detail);
}

function checkedProduct(file: string, name: string, factors: number[]): number {
  let product = 1;
  for (const f of factors) {
    product *= f;
    if (!Number.isSafeInteger(product)) fail(file, 'bad-header', `tensor ${name}: size overflows`);
  }
  return product;
}

/** Validates the header JSON text against the file size; pure, so it can be fuzzed without any I/O. */
export function parseHeaderJson(file: string, text: string, headerLength: number, fileSize: number): SafetensorsHeader {
  if (!text.startsWith('{')) fail(file, 'bad-header', 'header is not a JSON object (does not start with "{")');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(file, 'bad-json', `header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'bad-json', 'header is not a JSON object');
  const dataStart = 8 + headerLength;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(file, 'bad-header', '__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, 'bad-header', `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(file, 'bad-header', `tensor ${name}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') fail(file, 'bad-header', `tensor ${name}: dtype missing`);
    if (!(dtype in DTYPE_BYTES)) {
      if (KNOWN_UNSUPPORTED.has(dtype)) fail(file, 'bad-dtype', `tensor ${name}: dtype ${dtype} is not supported (F32, F16, BF16, I32, I64 are)`);
      fail(file, 'bad-dtype', `tensor ${name}: unknown dtype ${JSON.stringify(dtype).slice(0, 40)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(file, 'bad-header', `tensor ${name}: shape is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(file, 'bad-header', `tensor ${name}: data_offsets is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(file, 'bad-layout', `tensor ${name}: data_offsets end ${end} < begin ${begin}`);
    entries.push({ name, dtype: dtype as Dtype, shape: shape as number[], begin, end });
  }
  // Contiguity, as the reference validates: sorted by offsets, each tensor starts where the previous ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedStart = 0;
  const tensors = new Map<string, TensorInfo>();
  for (const e of entries) {
    if (e.begin !== expectedStart) {
      fail(file, 'bad-layout', e.begin < expectedStart
        ? `tensor ${e.name} overlaps the previous tensor (starts at ${e.begin}, previous ends at ${expectedStart})`
        : `hole in the data before tensor ${e.name} (starts at ${e.begin}, expected ${expectedStart})`);
    }
    const bytes = checkedProduct(file, e.name, [...e.shape, DTYPE_BYTES[e.dtype]]);
    if (bytes !== e.end - e.begin) {
      fail(file, 'shape-mismatch', `tensor ${e.name}: shape [${e.shape}] of ${e.dtype} is ${bytes} bytes but data_offsets span ${e.end - e.begin}`);
    }
    expectedStart = e.end;
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, byteOffset: dataStart + e.begin, byteLength: bytes });
  }
  if (dataStart + expectedStart !== fileSize) {
    fail(file, 'truncated', dataStart + expectedStart > fileSize
      ? `file is truncated: the header describes ${dataStart + expectedStart} bytes, the file has ${fileSize}`
      : `file has ${fileSize - dataStart - expectedStart} unexpected bytes after the last tensor`);
  }
  return { file, headerLength, fileSize, metadata, tensors };
}

/** Reads and validates the header of a safetensors file (two small reads, whatever the file size). */
export async function readSafetensorsHeader(source: ByteSource): Promise<SafetensorsHeader> {
  const file = source.name;
  const fileSize = await source.size();
  if (fileSize < 8) fail(file, 'truncated', `file is ${fileSize} bytes, too short for a safetensors header`);
  const prefix = await source.read(0, 8);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const high = view.getUint32(4, true);
  const low = view.getUint32(0, true);
  const headerLength = high * 2 ** 32 + low;
  if (high !== 0 || headerLength > MAX_HEADER_BYTES) {
    fail(file, 'bad-header', `header length ${high ? `${high} * 2^32 + ${low}` : headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (8 + headerLength > fileSize) fail(file, 'truncated', `header length ${headerLength} runs past the end of the file (${fileSize} bytes)`);
  const headerBytes = await source.read(8, headerLength);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(file, 'bad-header', 'header is not valid UTF-8');
  }
  return parseHeaderJson(file, text, headerLength, fileSize);
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
  }
  return out;
}

/** Serializes tensors into a safetensors file (for `moe-lab logits`, statistics, masks and exports). */
export function writeSafetensors(
  tensors: { name: string; dtype: Dtype; shape: number[]; data: Uint8Array }[],
  metadata?: Record<string, string>,
): Uint8Array {
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
