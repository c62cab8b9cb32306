/**
 * A symmetric per-group integer quantization of one weight matrix, and of a model (docs/quantization.md).
 *
 * A matrix is [rows, cols] as Hugging Face stores an nn.Linear weight: [out, in]. Groups run along `in`: column
 * c of row r belongs to group floor(c / groupSize), and every row has its own scale per group. The integer codes
 * are GPTQ's `sym=True` grid (Frantar et al. 2022; the GPTQ / AutoGPTQ `Quantizer`): codes q in [0, 2^bits - 1]
 * with the zero point z = 2^(bits-1), value = (q - z) * scale. A zero weight has the code z and decodes to exactly
 * 0, so a pruned (masked) weight stays 0 through quantization.
 *
 * Scales are f32 values that f16 represents exactly: GPTQ checkpoints store `scales` in f16, so a matrix written
 * in that layout and read back decodes to the same values bit for bit.
 */
import { SETTINGS, type ChoiceOf } from '../experiment/vocabulary.ts';

type NumberOf<S> = S extends `${infer N extends number}` ? N : never;
/** The bit widths the lab quantizes to: the numeric options of the vocabulary's quantBits row, widest first. */
export type QuantBits = NumberOf<ChoiceOf<typeof SETTINGS.quantBits>>;
export const QUANT_BITS: readonly QuantBits[] = SETTINGS.quantBits.values
  .filter((v) => /^\d+$/.test(v))
  .map((v) => Number(v) as QuantBits)
  .sort((a, b) => b - a);

/** One quantized matrix [rows, cols]: codes row-major [rows, cols], scales [rows, cols / groupSize]. */
export interface QuantizedMatrix {
  rows: number;
  cols: number;
  bits: QuantBits;
  /** Columns (input features) per group; divides `cols`. */
  groupSize: number;
  /** Codes q in [0, 2^bits - 1], one byte each here (packed only on disk), [rows, cols] row-major. */
  codes: Uint8Array;
  /** Per row and group, [rows, cols / groupSize] row-major; f16-representable. */
  scales: Float32Array;
}

/** The zero point of the symmetric grid, 2^(bits-1) (GPTQ's `(maxq + 1) / 2`). */
export function zeroPoint(bits: QuantBits): number {
  return 2 ** (bits - 1);
}

/** The largest code, 2^bits - 1 (GPTQ's `maxq`). */
export function maxCode(bits: QuantBits): number {
  return 2 ** bits - 1;
}

/** Groups per row: cols / groupSize, or an error naming the sizes when the group size does not divide cols. */
export function groupsPerRow(cols: number, groupSize: number): number {
  if (!Number.isInteger(groupSize) || groupSize < 1 || cols % groupSize !== 0) {
    throw new Error(`group size ${groupSize} does not divide the ${cols} input columns of the matrix`);
  }
  return cols / groupSize;
}

/** The values a quantized matrix stands for, [rows, cols] row-major: (q - 2^(bits-1)) * scale (reference). */
export function dequantize(m: QuantizedMatrix): Float32Array {
  const groups = groupsPerRow(m.cols, m.groupSize);
  const z = zeroPoint(m.bits);
  const out = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) {
      out[r * m.cols + c] = (m.codes[r * m.cols + c] - z) * m.scales[r * groups + Math.floor(c / m.groupSize)];
    }
  }
  return out;
}

/** Bytes of one quantized matrix, as stored and as held by the lab. */
export interface QuantizedBytes {
  /** The GPTQ checkpoint tensors: qweight (bits per weight, in int32 words along `in`), qzeros (bits per row and
   * group, in int32 words along `out`), scales (f16 per row and group), g_idx (int32 per input column). */
  disk: number;
  /** What the lab's GPU holds to run it: codes packed bits per weight in u32 words per row, plus f32 scales. */
  gpu: number;
}

/** The byte accounting of a [rows, cols] matrix at `bits` with `groupSize` (see QuantizedBytes). */
export function quantizedBytes(rows: number, cols: number, bits: QuantBits, groupSize: number): QuantizedBytes {
  const groups = groupsPerRow(cols, groupSize);
  const words = (count: number) => 4 * Math.ceil((count * bits) / 32);
  const disk = rows * words(cols) + groups * words(rows) + 2 * groups * rows + 4 * cols;
  return { disk, gpu: rows * words(cols) + 4 * rows * groups };
}

/** Where a quantized matrix lives in the checkpoint and how it was quantized. */
export interface QuantizedModelMatrix {
  layer: number;
  /** The engine's matrix label: `layers.{l}.experts.{e}.{gate|up|down}`, `layers.{l}.shared.{…}` (src/engine/prune/matrices.ts). */
  label: string;
  /** The checkpoint tensor holding its weights; fused layouts hold several matrices, this one from `elementOffset`. */
  tensor: string;
  elementOffset: number;
  matrix: QuantizedMatrix;
}

/** Method that chose the codes: round-to-nearest, or GPTQ's column sweep with error feedback. */
export type QuantizeMethod = ChoiceOf<typeof SETTINGS.quantMethod>;

/**
 * A quantized model: the quantized matrices (each with its own bits and group size, so mixed precision is a
 * per-matrix choice); every weight not listed keeps the checkpoint's dtype.
 */
export interface QuantizedModel {
  method: QuantizeMethod;
  /** Uniform width, or the average bit budget a mixed-precision allocation met (weighted by matrix size). */
  bits: number;
  mixed: boolean;
  groupSize: number;
  matrices: QuantizedModelMatrix[];
}
