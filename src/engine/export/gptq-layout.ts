/**
 * The GPTQ checkpoint layout of one quantized nn.Linear (Frantar et al. 2022, as AutoGPTQ / GPTQModel store it
 * and transformers' gptq path and vLLM's GPTQ loaders read it; docs/quantization.md, "GPTQ checkpoint layout").
 * W [out, in] is stored as four tensors next to the Linear's bias (the `weight` tensor is gone):
 * - `qweight` I32 [in * bits / 32, out]: column o of W^T packed along `in`;
 * - `qzeros`  I32 [in / G, out * bits / 32]: row g's zero points packed along `out`;
 * - `scales`  F16 [in / G, out];
 * - `g_idx`   I32 [in]: the group of input column i, i / G when desc_act is false (no act-order permutation).
 * Packing (every width, 3 bits included): the values of one packed line are one little-endian bitstream, value j at
 * bits [j * bits, (j + 1) * bits) counted from bit 0 of the first word — for 2, 4 and 8 bits that is 32 / bits values
 * per word, low bits first; for 3 bits 32 values fill 3 words and values 10 and 21 straddle two words (AutoGPTQ's
 * pack loop writes exactly this stream). So qweight[w, o] holds bits [32 w, 32 w + 32) of the stream of
 * codes[o, 0..in), and qzeros[g, w] bits [32 w, 32 w + 32) of the stream of zeros[g, 0..out).
 * Value: W[o, i] = scales[g, o] * (q[i, o] - z[g, o]) with g = g_idx[i]. The "gptq" (v1) checkpoint format stores
 * z - 1 (AutoGPTQ's historical offset; its kernels and GPTQModel add 1 back), "gptq_v2" stores z itself. Symmetric
 * quantization (sym = true) has z = 2^(bits-1), so a v1 4-bit file holds qzeros words 0x77777777.
 */
import { QUANT_BITS, zeroPoint, type QuantizedMatrix } from '../quantize/quantized-matrix.ts';

/** The widths GPTQ packs (transformers' GPTQConfig and vLLM's GPTQConfig accept these): the lab's QUANT_BITS. */
export const GPTQ_BITS: readonly number[] = QUANT_BITS;

/** Bits per packed word: qweight and qzeros are int32. */
const WORD_BITS = 32;

/** checkpoint_format values: v1 stores zero - 1, v2 the zero itself. */
export type GptqCheckpointFormat = 'gptq' | 'gptq_v2';

/** The stored zero-point offset of a checkpoint format (v1 stores z - 1). */
export function storedZeroOffset(format: GptqCheckpointFormat): number {
  return format === 'gptq' ? 1 : 0;
}

/** The four GPTQ tensors of one Linear (little-endian words; scales as f16 bits). */
export interface GptqTensors {
  qweight: Uint32Array; // [in * bits / 32, out]
  qzeros: Uint32Array; // [in / G, out * bits / 32]
  scales: Uint16Array; // [in / G, out] f16 bits
  gIdx: Int32Array; // [in]
}

/** Why a [out, in] matrix cannot be stored at `bits` with groups of `groupSize`, or null when it can. */
export function gptqShapeProblem(out: number, inFeatures: number, bits: number, groupSize: number): string | null {
  if (!GPTQ_BITS.includes(bits)) return `${bits} bits: GPTQ packs ${GPTQ_BITS.join(', ')} bits`;
  if (!(groupSize > 0) || inFeatures % groupSize) return `group size ${groupSize} does not divide the ${inFeatures} input columns`;
  if ((inFeatures * bits) % WORD_BITS) return `${inFeatures} input columns of ${bits} bits do not fill whole 32-bit qweight words`;
  if ((out * bits) % WORD_BITS) return `${out} output rows of ${bits} bits do not fill whole 32-bit qzeros words`;
  return null;
}

/** Sets `bits` bits of stream position `at` (in values) to `value` (< 2^bits) in `words` at stride `stride` from `base`. */
function putBits(words: Uint32Array, base: number, stride: number, at: number, bits: number, value: number): void {
  const bit = at * bits;
  const word = bit >>> 5;
  const shift = bit & 31;
  words[base + word * stride] |= value << shift;
  // The high bits of a value that straddles a word boundary (3 bits only) start the next word.
  if (shift + bits > WORD_BITS) words[base + (word + 1) * stride] |= value >>> (WORD_BITS - shift);
}

/** The `bits`-bit value at stream position `at` of the line of `words` at `base` with stride `stride`. */
function getBits(words: Uint32Array, base: number, stride: number, at: number, bits: number): number {
  const bit = at * bits;
  const word = bit >>> 5;
  const shift = bit & 31;
  let value = words[base + word * stride] >>> shift;
  if (shift + bits > WORD_BITS) value |= words[base + (word + 1) * stride] << (WORD_BITS - shift);
  return value & ((1 << bits) - 1);
}

/** Packs `values` [lines, n] (each line one stream) into words [n * bits / 32, lines] (qweight's orientation). */
export function packColumns(values: ArrayLike<number>, lines: number, n: number, bits: number): Uint32Array {
  const words = new Uint32Array(((n * bits) / WORD_BITS) * lines);
  for (let line = 0; line < lines; line++) for (let j = 0; j < n; j++) putBits(words, line, lines, j, bits, values[line * n + j]);
  return words;
}

/** Packs `values` [lines, n] into words [lines, n * bits / 32] (qzeros' orientation). */
export function packRows(values: ArrayLike<number>, lines: number, n: number, bits: number): Uint32Array {
  const perLine = (n * bits) / WORD_BITS;
  const words = new Uint32Array(perLine * lines);
  for (let line = 0; line < lines; line++) for (let j = 0; j < n; j++) putBits(words, line * perLine, 1, j, bits, values[line * n + j]);
  return words;
}

/** The inverse of packColumns: values [lines, n]. */
export function unpackColumns(words: Uint32Array, lines: number, n: number, bits: number): Uint8Array {
  const out = new Uint8Array(lines * n);
  for (let line = 0; line < lines; line++) for (let j = 0; j < n; j++) out[line * n + j] = getBits(words, line, lines, j, bits);
  return out;
}

/** The inverse of packRows: values [lines, n]. */
export function unpackRows(words: Uint32Array, lines: number, n: number, bits: number): Uint8Array {
  const perLine = (n * bits) / WORD_BITS;
  const out = new Uint8Array(lines * n);
  for (let line = 0; line < lines; line++) for (let j = 0; j < n; j++) out[line * n + j] = getBits(words, line * perLine, 1, j, bits);
  return out;
}

/**
 * The GPTQ tensors of a symmetric quantized Linear (desc_act false: g_idx[i] = i / G). `f16Bits` encodes a scale
 * (round to nearest even); a scale that is not an f16 value is rounded, so the lab quantizes onto f16 scales when
 * the file must reload exactly.
 */
export function packGptqLinear(m: QuantizedMatrix, format: GptqCheckpointFormat, f16Bits: (value: number) => number): GptqTensors {
  const { bits, groupSize: G, rows: out, cols: inFeatures } = m;
  const problem = gptqShapeProblem(out, inFeatures, bits, G);
  if (problem) throw new RangeError(`GPTQ layout of a [${out}, ${inFeatures}] matrix: ${problem}`);
  const groups = inFeatures / G;
  if (m.codes.length !== out * inFeatures || m.scales.length !== out * groups) {
    throw new RangeError(
      `quantized [${out}, ${inFeatures}] matrix needs ${out * inFeatures} codes and ${out * groups} scales (got ${m.codes.length}, ${m.scales.length})`,
    );
  }
  const maxCode = (1 << bits) - 1;
  for (let k = 0; k < m.codes.length; k++) if (m.codes[k] > maxCode) throw new RangeError(`code ${m.codes[k]} at ${k} does not fit ${bits} bits`);
  const zeros = new Uint8Array(groups * out).fill(zeroPoint(bits) - storedZeroOffset(format));
  const scales = new Uint16Array(groups * out);
  for (let o = 0; o < out; o++) for (let g = 0; g < groups; g++) scales[g * out + o] = f16Bits(m.scales[o * groups + g]);
  return {
    qweight: packColumns(m.codes, out, inFeatures, bits),
    qzeros: packRows(zeros, groups, out, bits),
    scales,
    gIdx: Int32Array.from({ length: inFeatures }, (_, i) => Math.floor(i / G)),
  };
}

/** What reading a Linear's GPTQ tensors needs besides them. */
export interface GptqReadShape {
  bits: number;
  out: number;
  inFeatures: number;
  format: GptqCheckpointFormat;
}

/**
 * W [out, in] in f32 from a Linear's GPTQ tensors: scales[g, o] * (q[i, o] - z[g, o]) with g = g_idx[i] (any g_idx,
 * so act-order files read too) and z the stored zero plus the format's offset. `scales` are f32 values (an f16 or
 * bf16 scale widens exactly), so the product is the one f32 rounding of an exact value.
 */
export function dequantizeGptq(t: { qweight: Uint32Array; qzeros: Uint32Array; scales: Float32Array; gIdx: Int32Array }, shape: GptqReadShape): Float32Array {
  const { bits, out, inFeatures, format } = shape;
  const groups = t.scales.length / out;
  const codes = unpackColumns(t.qweight, out, inFeatures, bits); // [out, in]
  const zeros = unpackRows(t.qzeros, groups, out, bits); // [groups, out]
  const offset = storedZeroOffset(format);
  const w = new Float32Array(out * inFeatures);
  for (let i = 0; i < inFeatures; i++) {
    const g = t.gIdx[i];
    if (!(g >= 0 && g < groups)) throw new RangeError(`g_idx[${i}] = ${g} is outside the ${groups} groups`);
    for (let o = 0; o < out; o++) w[o * inFeatures + i] = t.scales[g * out + o] * (codes[o * inFeatures + i] - zeros[g * out + o] - offset);
  }
  return w;
}
