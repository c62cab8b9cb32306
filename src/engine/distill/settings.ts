/**
 * Settings of a distillation run and the small rules around it: the learning-rate schedule of each MoE layer's
 * steps (linear warmup, cosine to a floor; src/engine/train/schedule.ts), and the share of the perplexity gap
 * recovered.
 */
import { SETTINGS } from '../experiment/vocabulary.ts';
import type { LrSchedule } from '../train/schedule.ts';

export interface DistillSettings {
  /** Optimizer steps per MoE layer (the layers are distilled one after the other). */
  steps: number;
  /** Peak learning rate. */
  lr: number;
  /** Windows per step. */
  batch: number;
  /** Data order seed. */
  seed: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  /** AdamW decoupled weight decay of the matrices; 0 by default (decaying towards 0 is not recovery). */
  weightDecay: number;
  maxGradNorm: number;
  /** Read the step losses every this many steps (one GPU readback). */
  logEvery: number;
}

/** Steps, learning rate, batch and seed are the Recover step's rows of the settings vocabulary (page and CLI alike). */
export const DEFAULT_DISTILL: DistillSettings = {
  steps: SETTINGS.recoverSteps.default,
  lr: SETTINGS.recoverLr.default,
  batch: SETTINGS.recoverBatch.default,
  seed: SETTINGS.recoverSeed.default,
  beta1: 0.9,
  beta2: 0.95,
  adamEps: 1e-8,
  weightDecay: 0,
  maxGradNorm: 1,
  logEvery: 5,
};

/** Checks settings, naming the field and value of the first bad one (RangeError). */
export function validateDistillSettings(s: DistillSettings): void {
  const positiveInt = ['steps', 'batch', 'logEvery'] as const;
  for (const key of positiveInt) if (!Number.isInteger(s[key]) || s[key] < 1) throw new RangeError(`${key} must be a positive integer (got ${s[key]})`);
  if (!(s.lr > 0 && s.lr < 1)) throw new RangeError(`lr must be in (0, 1) (got ${s.lr})`);
  if (!(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1)) throw new RangeError(`betas must be in [0, 1) (got ${s.beta1}, ${s.beta2})`);
  if (!(s.weightDecay >= 0) || !(s.maxGradNorm > 0))
    throw new RangeError(`weightDecay must be >= 0 and maxGradNorm > 0 (got ${s.weightDecay}, ${s.maxGradNorm})`);
  if (!Number.isInteger(s.seed) || s.seed < 0 || s.seed > 0xffffffff) throw new RangeError(`seed must be an integer in 0..2^32-1 (got ${s.seed})`);
}

/** Per layer: warmup over the first 10% of its steps (at least 1), cosine decay to a tenth of the peak at its last step. */
export function distillSchedule(s: DistillSettings): LrSchedule {
  return { peak: s.lr, floor: s.lr / 10, warmupSteps: Math.max(1, Math.round(s.steps / 10)), totalSteps: s.steps };
}

/** (ppl_pruned - ppl_distilled) / (ppl_pruned - ppl_dense): 1 = all of the pruning damage undone; null without a gap. */
export function gapRecovered(dense: number, pruned: number, distilled: number): number | null {
  const gap = pruned - dense;
  return gap > 0 && Number.isFinite(gap) ? (pruned - distilled) / gap : null;
}
