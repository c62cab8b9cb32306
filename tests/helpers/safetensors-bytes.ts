/**
 * Hand-made safetensors files for loader tests: any header text or 64-bit header length, any data length, so each
 * check of the reader can be hit on purpose.
 */
import { readFileSync } from 'node:fs';

/** 8-byte little-endian length + header bytes + data bytes; `headerLength` overrides the declared length. */
export function safetensorsBytes(header: string | Uint8Array, dataBytes = 0, headerLength?: bigint): Uint8Array {
  const headerBytes = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + headerBytes.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  for (let i = 0; i < dataBytes; i++) out[8 + headerBytes.byteLength + i] = i & 0xff;
  return out;
}

/** A header object as JSON (tensor entries `{ dtype, shape, data_offsets }`). */
export function headerJson(entries: Record<string, unknown>): string {
  return JSON.stringify(entries);
}

/** A valid two-tensor file: a F32 [2, 3] then b F16 [4]. */
export function validTwoTensorFile(): Uint8Array {
  return safetensorsBytes(
    headerJson({
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      b: { dtype: 'F16', shape: [4], data_offsets: [24, 32] },
    }),
    32,
  );
}

/** The header text of a real safetensors file. */
export function headerTextOf(path: string): string {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  return bytes.subarray(8, 8 + length).toString('utf8');
}
