/**
 * A training recipe: model shape, optimizer, schedule, batch, seed and evaluation cadence, all in one plain object
 * that is written next to every checkpoint, so a run is described by its recipe and its data alone.
 * DEFAULT_RECIPE is the shipped model (public/models/brown-moe-3m): sized from bench/train.ts measurements on
 * lavapipe (2 CPU cores shared with other work): at this compute a small shape that sees more tokens does better
 * than a wider one that sees fewer (docs/training.md, "Sizing the default model").
 */
import type { TrainModelConfig } from './config.ts';
import { learningRate, type LrSchedule } from './schedule.ts';

/** One AdamW step's settings (shaders/train/adamw.wgsl and its CPU reference). */
export interface AdamWSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (Infinity: no clipping). */
  maxNorm: number;
}

export interface TrainRecipe {
  id: string;
  model: TrainModelConfig;
  seed: number;
  /** Windows of contextLength tokens per optimizer step. */
  windows: number;
  schedule: LrSchedule;
  /**
   * More training after `schedule` ends, with its own warmup and decay (steps counted from the end of `schedule`).
   * A run of the recipe without it resumes into it, and a fresh run of the whole recipe takes the same path.
   */
  continuation?: LrSchedule;
  beta1: number;
  beta2: number;
  adamEps: number;
  weightDecay: number;
  /** Global gradient-norm clip. */
  maxGradNorm: number;
  /** Coefficient of the Switch load-balancing loss (averaged over layers). */
  routerAuxLossCoef: number;
  /** Read the step losses every this many steps (one GPU readback). */
  logEvery: number;
  /** Validation loss on the first `validationWindows` windows of the validation split every this many steps. */
  validateEvery: number;
  validationWindows: number;
  /** Save a resumable state every this many steps. */
  checkpointEvery: number;
}

export const DEFAULT_RECIPE: TrainRecipe = {
  id: 'brown-moe-3m',
  model: {
    vocabSize: 4096,
    hiddenSize: 96,
    numLayers: 4,
    numHeads: 3,
    numExperts: 8,
    topK: 2,
    expertFfnSize: 192,
    contextLength: 256,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    bosTokenId: 0,
    eosTokenId: 0,
  },
  seed: 20240611,
  windows: 4,
  schedule: { peak: 3e-3, floor: 1e-4, warmupSteps: 60, totalSteps: 3000 },
  beta1: 0.9,
  beta2: 0.95,
  adamEps: 1e-8,
  weightDecay: 0.1,
  maxGradNorm: 1,
  routerAuxLossCoef: 0.05,
  logEvery: 10,
  validateEvery: 100,
  validationWindows: 32,
  checkpointEvery: 50,
};

/** Optimizer steps of the whole recipe (schedule, then the continuation if any). */
export function recipeSteps(r: TrainRecipe): number {
  return r.schedule.totalSteps + (r.continuation?.totalSteps ?? 0);
}

/** Learning rate of step `step` (from 1) of the recipe. */
export function recipeLearningRate(r: TrainRecipe, step: number): number {
  if (!r.continuation || step <= r.schedule.totalSteps) return learningRate(r.schedule, step);
  return learningRate(r.continuation, step - r.schedule.totalSteps);
}

/**
 * Whether a state saved by `saved` at `step` can continue under `recipe`: the same recipe, or `recipe` is `saved`
 * with a continuation added and the state has not gone past the shared schedule.
 */
export function canResume(saved: TrainRecipe, step: number, recipe: TrainRecipe): boolean {
  if (JSON.stringify(saved) === JSON.stringify(recipe)) return step <= recipeSteps(recipe);
  const { continuation, ...shared } = recipe;
  return continuation !== undefined && saved.continuation === undefined && JSON.stringify(saved) === JSON.stringify(shared) && step <= recipe.schedule.totalSteps;
}
