/**
 * Symmetric per-group integer quantization, CPU references in f64 (docs/quantization.md): round-to-nearest (RTN)
 * and GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
 * Transformers", Algorithm 1). The grid is GPTQ's `sym=True` one (src/engine/quantize/quantized-matrix.ts):
 *   scale = f16(2 max|w| / (2^bits - 1)) over the group's kept weights (an all-zero group: f16(2 / (2^bits - 1)),
 *           GPTQ's xmin = -1, xmax = +1), rounded to f16 because GPTQ checkpoints store scales in f16;
 *   q     = clamp(round(w / scale) + 2^(bits-1), 0, 2^bits - 1), round half to even as torch.round.
 * One deliberate difference from GPTQ's Quantizer: it takes xmax = max(|xmin|, xmax) only when the group has a
 * negative value and otherwise scale = xmax / maxq, which clips the group's positive half; we always use max|w|.
 * Pruned weights (keep bit 0, or an exact zero in the input) get the zero code 2^(bits-1): exactly 0 after
 * dequantization, so quantization composes with any pruning.
 */
import { f32ToF16Bits } from '../../io/dtype-encoding.ts';
import { f16ToF32 } from '../../io/safetensors.ts';
import { dequantize, groupsPerRow, maxCode, zeroPoint, type QuantBits, type QuantizedMatrix } from '../../quantize/quantized-matrix.ts';
import { inverseHessianFactor } from '../sparsegpt/matrix.ts';

/** Round half to even (torch.round, WGSL round). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The f16 value nearest `x` (ties to even), as an f32 / f64 number. */
export function f16Round(x: number): number {
  return f16ToF32(f32ToF16Bits(x));
}

/** The scale of a group whose kept weights have largest magnitude `maxAbs` (see the file comment). */
export function groupScale(maxAbs: number, bits: QuantBits): number {
  return f16Round((2 * (maxAbs > 0 ? maxAbs : 1)) / maxCode(bits));
}

/** The code of weight `w` on the grid of `scale`. */
export function quantizeValue(w: number, scale: number, bits: QuantBits): number {
  return Math.min(maxCode(bits), Math.max(0, roundHalfEven(w / scale) + zeroPoint(bits)));
}

/** Keep rule: the mask's bit (1 = kept) where a mask is given, and every exact zero of the input counts as pruned. */
function keeps(w: ArrayLike<number>, keep: ArrayLike<number> | null | undefined, i: number): boolean {
  return w[i] !== 0 && (!keep || keep[i] !== 0);
}

/** RTN of W [rows, cols] (row-major), per row and group of `groupSize` columns; `keep` [rows, cols] 1 = kept. */
export function quantizeRtnReference(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  bits: QuantBits,
  groupSize: number,
  keep?: ArrayLike<number> | null,
): QuantizedMatrix {
  const groups = groupsPerRow(cols, groupSize);
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let maxAbs = 0;
      for (let c = g * groupSize; c < (g + 1) * groupSize; c++) if (keeps(w, keep, r * cols + c)) maxAbs = Math.max(maxAbs, Math.abs(w[r * cols + c]));
      const scale = groupScale(maxAbs, bits);
      scales[r * groups + g] = scale;
      for (let c = g * groupSize; c < (g + 1) * groupSize; c++) {
        const i = r * cols + c;
        codes[i] = keeps(w, keep, i) ? quantizeValue(w[i], scale, bits) : zeroPoint(bits);
      }
    }
  }
  return { rows, cols, bits, groupSize, codes, scales };
}

export interface GptqResult {
  matrix: QuantizedMatrix;
  /** GPTQ's loss estimate: sum over rows and columns of (w - q)^2 / U_ii^2 / 2. */
  loss: number;
}

/**
 * GPTQ on W [rows, cols] with the Hessian H = 2/n sum x x^T [cols, cols] of its input (Algorithm 1): dead inputs
 * and dampening as SparseGPT (inverseHessianFactor, the same U with H^-1 = U^T U), then column by column in
 * order: at the first column of a group its scales come from the group's current (error-updated) weights, then
 * q = quant(w), err = (w - q) / U_ii, W[:, i+1:] -= err U[i, i+1:]. Unblocked: the lazy batch updates of the paper
 * only reorder this arithmetic. (GPTQ's code takes a group's scales from the weights as they were at the start of
 * the current block of 128 columns; with the group inside the block we use the fully updated ones.) Pruned weights
 * (`keep` 0 or exact zeros) take the zero code and feed their whole value back as error, as SparseGPT does.
 */
export function gptqReference(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  H: Float64Array,
  options: { bits: QuantBits; groupSize: number; damp?: number; keep?: ArrayLike<number> | null },
): GptqResult {
  const { bits, groupSize } = options;
  const groups = groupsPerRow(cols, groupSize);
  const { U, dead } = inverseHessianFactor(H, cols, options.damp ?? 0.01);
  const work = Float64Array.from(w);
  const kept = Uint8Array.from({ length: rows * cols }, (_, i) => (keeps(w, options.keep, i) && !dead[i % cols] ? 1 : 0));
  for (let i = 0; i < work.length; i++) if (!kept[i]) work[i] = 0;
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const z = zeroPoint(bits);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const row = work.subarray(r * cols, (r + 1) * cols);
    let scale = 0;
    for (let i = 0; i < cols; i++) {
      if (i % groupSize === 0) {
        let maxAbs = 0;
        for (let c = i; c < i + groupSize; c++) if (kept[r * cols + c]) maxAbs = Math.max(maxAbs, Math.abs(row[c]));
        scale = groupScale(maxAbs, bits);
        scales[r * groups + i / groupSize] = scale;
      }
      const code = kept[r * cols + i] ? quantizeValue(row[i], scale, bits) : z;
      codes[r * cols + i] = code;
      const d = U[i * cols + i];
      const err = (row[i] - (code - z) * scale) / d;
      loss += (err * err) / 2;
      for (let j = i + 1; j < cols; j++) row[j] -= err * U[i * cols + j];
    }
  }
  return { matrix: { rows, cols, bits, groupSize, codes, scales }, loss };
}

/** Dequantized f32 values of a quantized matrix, as the dequantize kernel writes them before encoding. */
export const dequantizeReference = dequantize;
