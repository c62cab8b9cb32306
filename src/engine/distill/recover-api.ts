/**
 * The page's Recover step as the Engine interface carries it (src/api/engine.ts `recover`, `exportRecovered`):
 * distillation of the pruned model (the masks in force) toward the loaded dense model. Plain structured-cloneable
 * data. The page runs it in chunks (`untilStep`): every call returns the curves so far, so they draw as it trains;
 * pausing is not asking for the next chunk (or cancelling the one running), resuming is asking again — the
 * parameters and optimizer state wait on the GPU in the worker.
 */
import type { TextRef } from '../experiment/text-ref.ts';
import type { DistillCurves, PerplexityEntry } from './report.ts';
import type { DistillTrainable } from './scope.ts';

export interface RecoverRequest {
  /** Training windows: N windows of L + 1 tokens of this text at seeded starts (the calibration rule). */
  training: { text: TextRef; samples: number; seqLen: number; seed: number };
  steps: number;
  lr: number;
  /** Windows per step. */
  batch: number;
  trainable: DistillTrainable;
  /** Stop at this step (at most `steps`) and report; ask again to go on. */
  untilStep: number;
  /** The three perplexities are measured on this text when the run reaches `steps`. */
  evaluation: { text: TextRef; ctx: number; maxTokens: number };
  /** Start again from the pruned model even when a run with these settings is under way. */
  restart: boolean;
}

export interface RecoverReport {
  step: number;
  steps: number;
  finished: boolean;
  lambda: number;
  curves: DistillCurves;
  /** Seconds of training so far. */
  seconds: number;
  prunedWeights: number;
  maskSource: 'masks.safetensors' | 'zeros';
  /** Dense, pruned and distilled on the same windows, once the run is finished. */
  perplexity: { dense: PerplexityEntry; pruned: PerplexityEntry; distilled: PerplexityEntry; ctx: number } | null;
  gapRecovered: number | null;
  /** Pruned weights of the distilled model that read back as anything but 0 (always 0), once finished. */
  nonzeroPruned: number | null;
}
