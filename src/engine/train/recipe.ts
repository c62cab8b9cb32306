/**
 * A training recipe: model shape, optimizer, schedule, batch, seed and evaluation cadence, all in one plain object
 * that is written next to every checkpoint, so a run is described by its recipe and its data alone (and, for a warm
 * start, the checkpoint it starts from).
 * BROWN_MOE_3M_RECIPE is the first shipped model (public/models/brown-moe-3m): sized from bench/train.ts
 * measurements on lavapipe (2 CPU cores shared with other work): at this compute a small shape that sees more tokens
 * does better than a wider one that sees fewer (docs/training.md, "Sizing the default model").
 * BROWN_QMOE_3M_RECIPE (public/models/brown-qmoe-3m) continues it with finer experts, a sharper router and
 * unnormalized routing, so that the router's gates vary across tokens and router-weighted pruning differs from Wanda;
 * DEFAULT_RECIPE (public/models/brown-qmoe128-3m) splits those experts once more (docs/training.md).
 */
import type { TrainModelConfig } from './config.ts';
import type { WarmStart } from './init.ts';
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
  /** Start from a trained checkpoint instead of the seeded initialization (src/engine/train/init.ts). */
  warmStart?: WarmStart;
  /** Windows of contextLength tokens per optimizer step. */
  windows: number;
  schedule: LrSchedule;
  /**
   * More training after `schedule` ends, with its own warmup and decay (steps counted from the end of `schedule`).
   * A run of the recipe without it resumes into it, and a fresh run of the whole recipe takes the same path.
   */
  continuation?: LrSchedule;
  /**
   * The schedule cut short: it runs as planned up to step `fromStep`, then decays by the same cosine shape from its
   * rate there to `schedule.floor` at step `totalSteps` (which replaces `schedule.totalSteps`). This is how a run
   * that cannot finish its plan in the time at hand ends cleanly instead of stopping at a high rate; a fresh run of
   * the recipe takes the same path, and a state of the uncut recipe up to `fromStep` resumes into it.
   */
  cutShort?: { fromStep: number; totalSteps: number };
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

export const BROWN_MOE_3M_RECIPE: TrainRecipe = {
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
  // Planned for 3000 steps; cut to 2000 at step 770 so the run finished inside the session that trained it.
  cutShort: { fromStep: 770, totalSteps: 2000 },
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

/**
 * brown-qmoe-3m (the page's default before brown-qmoe128-3m): brown-moe-3m's weights, each expert split in eight (64
 * experts of FFN 24, top-16: the same active FFN width per token), each part's router row perturbed by its own noise
 * and the router sharpened x8, with unnormalized top-K gates (Qwen-MoE's norm_topk_prob = false), trained on with fresh
 * AdamW moments, a new warmup and cosine decay, and a lighter load-balancing term so the router can stay sharp.
 * docs/training.md tells how the split, the noise and the scale were chosen (the Wanda vs MoE-Pruner mask
 * disagreement of each conversion).
 */
const { cutShort: _sourceCut, ...sourceRecipe } = BROWN_MOE_3M_RECIPE;

export const BROWN_QMOE_3M_RECIPE: TrainRecipe = {
  ...sourceRecipe,
  id: 'brown-qmoe-3m',
  model: { ...BROWN_MOE_3M_RECIPE.model, numExperts: 64, topK: 16, expertFfnSize: 24, routing: 'unnormalized' },
  seed: 20261206,
  warmStart: {
    model: 'public/models/brown-moe-3m',
    from: BROWN_MOE_3M_RECIPE.model,
    splitExperts: 8,
    routerScale: 8,
    downScale: 8,
    routerNoise: { std: 1, seed: 1 },
  },
  schedule: { peak: 1.5e-3, floor: 5e-5, warmupSteps: 30, totalSteps: 2400 },
  routerAuxLossCoef: 0.02,
};

/**
 * brown-qmoe128-3m (the page's default before brown-qmoe128-sharp-3m): brown-qmoe-3m's weights, each expert split in
 * two (128 experts of FFN 12, top-32: the same active FFN width), each part's router row plus N(0, (sd(row) / 2)^2)
 * noise so the halves of an expert stop being chosen together, trained on for 800 steps and then 800 more at half the
 * peak rate. Finer experts with distinct router rows spread the gates over more, smaller token sets, which is what
 * moves MoE-Pruner's masks away from Wanda's (docs/training.md, "128 experts").
 */
export const BROWN_QMOE128_3M_RECIPE: TrainRecipe = {
  ...BROWN_QMOE_3M_RECIPE,
  id: 'brown-qmoe128-3m',
  model: { ...BROWN_QMOE_3M_RECIPE.model, numExperts: 128, topK: 32, expertFfnSize: 12 },
  warmStart: {
    model: 'public/models/brown-qmoe-3m',
    from: BROWN_QMOE_3M_RECIPE.model,
    splitExperts: 2,
    routerScale: 1,
    downScale: 2,
    routerNoise: { std: 0.5, seed: 1 },
  },
  schedule: { peak: 1e-3, floor: 5e-5, warmupSteps: 30, totalSteps: 800 },
  continuation: { peak: 5e-4, floor: 5e-5, warmupSteps: 30, totalSteps: 800 },
};

/**
 * The default model: brown-qmoe128-3m's weights with the routers of layers 2 and 3 sharpened (x1.6 and x2.2), trained
 * on for 800 steps at a low rate (peak 2e-4) with fresh AdamW moments. A sharper softmax spreads the unnormalized gates
 * further from token to token, which moves MoE-Pruner's masks away from Wanda's; layers 2 and 3 were the ones under 10%
 * (docs/training.md, "Sharper deep routers"). Validation every 400 steps: a cadence, no parameter.
 */
const { continuation: _sharpSourceContinuation, ...sharpSource } = BROWN_QMOE128_3M_RECIPE;

export const DEFAULT_RECIPE: TrainRecipe = {
  ...sharpSource,
  id: 'brown-qmoe128-sharp-3m',
  warmStart: {
    model: 'public/models/brown-qmoe128-3m',
    from: BROWN_QMOE128_3M_RECIPE.model,
    splitExperts: 1,
    routerScale: [1, 1, 1.6, 2.2],
    downScale: 1,
  },
  schedule: { peak: 2e-4, floor: 5e-5, warmupSteps: 30, totalSteps: 800 },
  validateEvery: 400,
};

/** Every shipped model's recipe by id (public/models/<id>): `npm run train:default -- --recipe <id>` rebuilds it. */
export const SHIPPED_RECIPES: Readonly<Record<string, TrainRecipe>> = Object.fromEntries(
  [BROWN_MOE_3M_RECIPE, BROWN_QMOE_3M_RECIPE, BROWN_QMOE128_3M_RECIPE, DEFAULT_RECIPE].map((r) => [r.id, r]),
);

/** `r` as a plain schedule of `steps` steps (same warmup, peak and floor), without a cut or a continuation. */
export function recipeWithSteps(r: TrainRecipe, steps: number): TrainRecipe {
  const plain: TrainRecipe = { ...r, schedule: { ...r.schedule, totalSteps: steps } };
  delete plain.cutShort;
  delete plain.continuation;
  return plain;
}

/** Optimizer steps of the schedule (as cut short, if it was). */
function scheduleSteps(r: TrainRecipe): number {
  return r.cutShort?.totalSteps ?? r.schedule.totalSteps;
}

/** Optimizer steps of the whole recipe (schedule, then the continuation if any). */
export function recipeSteps(r: TrainRecipe): number {
  return scheduleSteps(r) + (r.continuation?.totalSteps ?? 0);
}

/** Learning rate of step `step` (from 1) of the recipe. */
export function recipeLearningRate(r: TrainRecipe, step: number): number {
  if (r.continuation && step > scheduleSteps(r)) return learningRate(r.continuation, step - scheduleSteps(r));
  const cut = r.cutShort;
  if (!cut || step <= cut.fromStep) return learningRate(r.schedule, step);
  // Same cosine shape, from the rate reached at fromStep down to the floor at the new end.
  const start = learningRate(r.schedule, cut.fromStep);
  if (step >= cut.totalSteps) return r.schedule.floor;
  const progress = (step - cut.fromStep) / (cut.totalSteps - cut.fromStep);
  return r.schedule.floor + 0.5 * (start - r.schedule.floor) * (1 + Math.cos(Math.PI * progress));
}

/**
 * Whether a state saved by `saved` at `step` can continue under `recipe`: the same recipe, or `recipe` is `saved`
 * with a continuation added and the state has not gone past the shared schedule.
 */
export function canResume(saved: TrainRecipe, step: number, recipe: TrainRecipe): boolean {
  if (JSON.stringify(saved) === JSON.stringify(recipe)) return step <= recipeSteps(recipe);
  if (recipe.continuation !== undefined && saved.continuation === undefined) {
    const shared: TrainRecipe = { ...recipe };
    delete shared.continuation;
    if (JSON.stringify(saved) === JSON.stringify(shared)) return step <= scheduleSteps(recipe);
  }
  if (recipe.cutShort !== undefined && saved.cutShort === undefined) {
    const uncut: TrainRecipe = { ...recipe };
    delete uncut.cutShort;
    // The uncut recipe took the same path up to fromStep (and only then).
    return step <= recipe.cutShort.fromStep && canResume(saved, step, uncut);
  }
  return false;
}
