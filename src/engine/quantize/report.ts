/**
 * What a quantization run reports (`moe-lab quantize --json`, docs/quantization.md): the settings, per matrix the
 * width chosen and its measured error, and the accounting of the pruning's accounting extended to codes
 * (src/engine/prune/accounting.ts, docs/pruning.md "Accounting"):
 * - `dense`: the checkpoint as it is (its dtype);
 * - `quantized.diskBytes`: the GPTQ checkpoint (quantized matrices as qweight / qzeros / scales / g_idx, every
 *   other weight in the checkpoint's dtype);
 * - `quantized.gpuBytes` / `readPerTokenBytes`: a runtime that keeps codes packed and reads them (GPTQ kernels):
 *   packed codes plus scales, a routed expert read for K of E experts per token;
 * - `inLab`: what this lab holds and reads: the dense weights plus the dequantized replacement weights in the
 *   model's dtype (docs/quantization.md, "Evaluation"), so nothing is saved there.
 */
import { weightBytes, type WeightBytes } from '../prune/accounting.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import type { CalibrationInfo } from '../prune/report.ts';
import { quantizedBytes, type QuantBits, type QuantizeMethod } from './quantized-matrix.ts';
import type { BitAllocation } from './settings.ts';

/** The `format` of quantize-report.json (`moe-lab quantize --out`, the page's GPTQ download). */
export const QUANTIZE_REPORT_FORMAT = 'moe-lab-quantize-report/1';

export interface QuantizedMatrixReport {
  label: string;
  layer: number;
  rows: number;
  cols: number;
  bits: QuantBits;
  /** sum_t ||(W - W_q) x_t||^2 over the matrix's routed calibration tokens; null without calibration. */
  error: number | null;
}

export interface QuantizeAccounting {
  bytesPerWeight: number;
  dense: WeightBytes;
  quantized: WeightBytes;
  inLab: Pick<WeightBytes, 'gpuBytes' | 'readPerTokenBytes'>;
  /** quantized / dense. */
  ratio: WeightBytes;
}

export interface QuantizeReport {
  method: QuantizeMethod;
  /** Uniform width, or null for mixed precision. */
  bits: QuantBits | null;
  /** The requested average budget (mixed) and the achieved average code bits per quantized weight. */
  avgBits: number | null;
  achievedBits: number;
  groupSize: number;
  allocation: BitAllocation | null;
  /** Summed error of the chosen widths (null without calibration). */
  error: number | null;
  calibration: CalibrationInfo | null;
  masks: string | null;
  matrices: QuantizedMatrixReport[];
  accounting: QuantizeAccounting;
}

/** The accounting of quantizing `matrices` (routed expert matrices of `spec`) in a checkpoint of `bytesPerWeight`. */
export function quantizeAccounting(
  spec: MoeModelSpec,
  bytesPerWeight: number,
  matrices: readonly { rows: number; cols: number; bits: QuantBits }[],
  groupSize: number,
): QuantizeAccounting {
  const dense = weightBytes(spec, bytesPerWeight);
  let denseMatrixBytes = 0;
  let disk = 0;
  let gpu = 0;
  for (const m of matrices) {
    denseMatrixBytes += m.rows * m.cols * bytesPerWeight;
    const q = quantizedBytes(m.rows, m.cols, m.bits, groupSize);
    disk += q.disk;
    gpu += q.gpu;
  }
  // A token reads its top-K of E routed experts: that share of the expert matrices.
  const routedShare = spec.topK / spec.numExperts;
  const quantized = {
    diskBytes: dense.diskBytes - denseMatrixBytes + disk,
    gpuBytes: dense.gpuBytes - denseMatrixBytes + gpu,
    readPerTokenBytes: dense.readPerTokenBytes - routedShare * (denseMatrixBytes - gpu),
  };
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  return {
    bytesPerWeight,
    dense,
    quantized,
    inLab: { gpuBytes: dense.gpuBytes + denseMatrixBytes, readPerTokenBytes: dense.readPerTokenBytes },
    ratio: {
      diskBytes: ratio(quantized.diskBytes, dense.diskBytes),
      gpuBytes: ratio(quantized.gpuBytes, dense.gpuBytes),
      readPerTokenBytes: ratio(quantized.readPerTokenBytes, dense.readPerTokenBytes),
    },
  };
}
