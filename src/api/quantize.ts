/**
 * The page's quantization (docs/quantization.md, "The page"): the experiment's quantize section applied to the
 * loaded model's routed experts, under the pruning masks in force when there are some, then the quantized model's
 * perplexity on the evaluation text. The CLI's `moe-lab quantize` runs the same lab code (src/lab/quantize.ts).
 */
import type { Experiment, ExperimentQuantize } from '../engine/experiment/schema.ts';
import type { QuantizeReport } from '../engine/quantize/report.ts';
import { calibrationRequest } from './experiment-requests.ts';
import type { CalibrationRequest, TextRef } from './lab.ts';
import { textRefOf } from '../engine/experiment/text-ref.ts';

export interface QuantizeRequest {
  /** The experiment's quantize section; bits 'none' is refused (nothing to quantize). */
  quantize: ExperimentQuantize;
  /** Windows for GPTQ's Hessians and mixed precision's errors (the calibration settings); uniform RTN reads none. */
  calibration: CalibrationRequest;
  /** The text the quantized perplexity is measured on, as the Evaluate step measures the others. */
  evaluation: { text: TextRef; ctx: number; maxTokens: number };
}

export interface QuantizeSummary {
  report: QuantizeReport;
  /** Quantized under the pruning masks in force (pruned weights stay 0). */
  pruned: boolean;
  /** The quantized model's perplexity on the evaluation text (dequantized in a shader, as the CLI's). */
  perplexity: QuantizePerplexity;
  /**
   * The dense model and the pruned one (the masks in force; null when nothing is pruned) on the same windows as
   * `perplexity`, so the three compare (the Evaluate step's numbers are per genre, on other windows).
   */
  reference: { dense: QuantizePerplexity; pruned: QuantizePerplexity | null };
}

export interface QuantizePerplexity {
  tokens: number;
  nll: number;
  ppl: number;
}

/** The quantization request of the experiment (calibration only where the settings need windows). */
export function quantizeRequest(experiment: Experiment): QuantizeRequest {
  const { text, ctx, maxTokens } = experiment.evaluation;
  return { quantize: { ...experiment.quantize }, calibration: calibrationRequest(experiment), evaluation: { text: textRefOf(text), ctx, maxTokens } };
}
