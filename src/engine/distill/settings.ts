/**
 * Settings of a distillation run and the small rules around it: the loss weight lambda (MoE-Pruner, Xie et al. 2024,
 * sec. 3.3: initialized so that lambda L_expert = CE on the first batch, then fixed), the learning-rate schedule
 * (linear warmup, cosine to a floor; src/engine/train/schedule.ts), and the share of the perplexity gap recovered.
 */
import type { LrSchedule } from '../train/schedule.ts';
import type { DistillTrainable } from './scope.ts';

export interface DistillSettings {
  trainable: DistillTrainable;
  /** Optimizer steps in all (a resumed run continues up to this). */
  steps: number;
  /** Peak learning rate. */
  lr: number;
  /** Windows per step. */
  batch: number;
  /** Data order seed. */
  seed: number;
  /** lambda, or null: CE / L_expert on the first batch. */
  lambda: number | null;
  beta1: number;
  beta2: number;
  adamEps: number;
  /** AdamW decoupled weight decay of the matrices; 0 by default (decaying towards 0 is not recovery). */
  weightDecay: number;
  maxGradNorm: number;
  /** Read the step losses every this many steps (one GPU readback). */
  logEvery: number;
}

export const DEFAULT_DISTILL: DistillSettings = {
  trainable: 'experts',
  steps: 100,
  lr: 1e-3,
  batch: 4,
  seed: 0,
  lambda: null,
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
  if (s.lambda !== null && !(s.lambda >= 0 && Number.isFinite(s.lambda))) throw new RangeError(`lambda must be a finite number >= 0 (got ${s.lambda})`);
  if (!(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1)) throw new RangeError(`betas must be in [0, 1) (got ${s.beta1}, ${s.beta2})`);
  if (!(s.weightDecay >= 0) || !(s.maxGradNorm > 0))
    throw new RangeError(`weightDecay must be >= 0 and maxGradNorm > 0 (got ${s.weightDecay}, ${s.maxGradNorm})`);
  if (s.trainable !== 'experts' && s.trainable !== 'all') throw new RangeError(`trainable must be 'experts' or 'all' (got ${String(s.trainable)})`);
  if (!Number.isInteger(s.seed) || s.seed < 0 || s.seed > 0xffffffff) throw new RangeError(`seed must be an integer in 0..2^32-1 (got ${s.seed})`);
}

/** Warmup over the first 10% of the steps (at least 1), cosine decay to a tenth of the peak at the last step. */
export function distillSchedule(s: DistillSettings): LrSchedule {
  return { peak: s.lr, floor: s.lr / 10, warmupSteps: Math.max(1, Math.round(s.steps / 10)), totalSteps: s.steps };
}

/** lambda = CE / L_expert (so both terms start equal); 0 when the experts already agree (nothing to distill). */
export function initialLambda(crossEntropy: number, expertLoss: number): number {
  return expertLoss > 0 && Number.isFinite(expertLoss) && Number.isFinite(crossEntropy) ? crossEntropy / expertLoss : 0;
}

/** (ppl_pruned - ppl_distilled) / (ppl_pruned - ppl_dense): 1 = all of the pruning damage undone; null without a gap. */
export function gapRecovered(dense: number, pruned: number, distilled: number): number | null {
  const gap = pruned - dense;
  return gap > 0 && Number.isFinite(gap) ? (pruned - distilled) / gap : null;
}
