/**
 * MXFP4 (OCP Microscaling Formats v1.0, Sec. 5: block size 32, E8M0 scale, FP4 E2M1 elements), as the hub stores
 * gpt-oss's expert matrices and transformers' integrations/mxfp4.py decodes them: per matrix row, `blocks`
 * [C/32, 16] u8 hold two E2M1 codes a byte (low nibble = even column, high nibble = odd column) and `scales` [C/32]
 * u8 the power-of-two exponent of each group of 32 plus 127. value = E2M1[code] * 2^(scale - 127).
 * Every E2M1 value times a power of two is exact in f32, so decoding loses nothing.
 */

/** The 16 E2M1 codes: sign bit 3, then 0, 0.5, 1, 1.5, 2, 3, 4, 6. */
export const E2M1_VALUES: readonly number[] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/** Elements per scale (one E8M0 exponent per group). */
export const MXFP4_GROUP = 32;

/** The exponent bias of a scale byte. */
export const MXFP4_SCALE_BIAS = 127;

/**
 * Decodes `rows` rows of `cols` columns: blocks [rows, cols/32, 16] u8, scales [rows, cols/32] u8 -> [rows, cols] f32.
 */
export function decodeMxfp4(blocks: Uint8Array, scales: Uint8Array, rows: number, cols: number): Float32Array {
  if (cols % MXFP4_GROUP) throw new RangeError(`MXFP4 rows must be a multiple of ${MXFP4_GROUP} wide (got ${cols})`);
  const groups = (rows * cols) / MXFP4_GROUP;
  if (blocks.length !== groups * 16 || scales.length !== groups) {
    throw new RangeError(`MXFP4 [${rows}, ${cols}] needs ${groups * 16} block bytes and ${groups} scales (got ${blocks.length}, ${scales.length})`);
  }
  const out = new Float32Array(rows * cols);
  for (let g = 0; g < groups; g++) {
    const scale = 2 ** (scales[g] - MXFP4_SCALE_BIAS);
    for (let b = 0; b < 16; b++) {
      const byte = blocks[g * 16 + b];
      out[g * 32 + 2 * b] = E2M1_VALUES[byte & 15] * scale;
      out[g * 32 + 2 * b + 1] = E2M1_VALUES[byte >> 4] * scale;
    }
  }
  return out;
}

/**
 * Experts' MXFP4 matrices into the canonical layout: blocks [E, R, C/32, 16], scales [E, R, C/32] -> [E, R, C]
 * f32, with `interleaved` (gpt-oss's gate_up) moving each expert's rows by gateUpRow. What shaders/moe/mxfp4_decode.wgsl computes on upload.
 */
export function decodeMxfp4Experts(
  blocks: Uint8Array,
  scales: Uint8Array,
  shape: { experts: number; rows: number; cols: number; interleaved: boolean },
): Float32Array {
  const { experts: E, rows: R, cols: C, interleaved } = shape;
  if (interleaved && R % 2) throw new RangeError(`interleaved MXFP4 rows must come in gate/up pairs (got ${R} rows)`);
  const stored = decodeMxfp4(blocks, scales, E * R, C);
  if (!interleaved) return stored;
  const out = new Float32Array(stored.length);
  for (let e = 0; e < E; e++) {
    for (let s = 0; s < R; s++) out.set(stored.subarray((e * R + s) * C, (e * R + s + 1) * C), (e * R + gateUpRow(R, s)) * C);
  }
  return out;
}

/**
 * Canonical row (gate rows, then up rows) of stored row s of one expert's gate_up with R rows: gpt-oss stores them
 * alternately (stored row 2j + p is gate (p = 0) or up (p = 1) row j).
 */
export function gateUpRow(R: number, s: number): number {
  return (s % 2) * (R / 2) + (s >> 1);
}
