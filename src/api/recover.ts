/**
 * The page's Recover step as the Engine interface carries it (src/api/engine.ts `recover`, `exportRecovered`):
 * expert-wise distillation of the pruned model (the masks in force) toward the loaded dense model, MoE layer after
 * MoE layer (docs/distillation.md). Plain structured-cloneable data. The page runs it in chunks (`untilStep`, over
 * all layers): every call returns the curves so far, so they draw as it trains; pausing is not asking for the next
 * chunk (or cancelling the one running), resuming is asking again — the experts and optimizer state wait on the
 * GPU in the worker.
 */
import type { DistillCurves, DistillLayerSummary, PerplexityEntry } from '../engine/distill/report.ts';
import type { TextRef } from '../engine/experiment/text-ref.ts';

export interface RecoverRequest {
  /** Training windows: N windows of L + 1 tokens of this text at seeded starts (the calibration rule). */
  training: { text: TextRef; samples: number; seqLen: number; seed: number };
  /** Optimizer steps per MoE layer. */
  steps: number;
  lr: number;
  /** Windows per step. */
  batch: number;
  /** Stop at this step, counted over all layers (at most steps x MoE layers), and report; ask again to go on. */
  untilStep: number;
  /** The three perplexities are measured on this text when the run is finished. */
  evaluation: { text: TextRef; ctx: number; maxTokens: number };
  /** Start again from the pruned model even when a run with these settings is under way. */
  restart: boolean;
}

export interface RecoverReport {
  /** Steps taken over all layers, and how many the whole run takes (steps per layer x MoE layers). */
  step: number;
  totalSteps: number;
  finished: boolean;
  /** Per logged step: the layer and its expert MSE loss. */
  curves: DistillCurves;
  /** Per MoE layer begun: its loss on its first batch before and after (null while under way). */
  layers: DistillLayerSummary[];
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
