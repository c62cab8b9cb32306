/**
 * The training loop of a recipe (src/engine/train/recipe.ts) on one GpuContext: seeded init or a resumed state,
 * seeded batches, warmup + cosine learning rate, step losses read every `logEvery` steps, validation on a fixed
 * slice of the validation split every `validateEvery` steps and on all of it at the end, a resumable state every
 * `checkpointEvery` steps. No Node APIs: logging and saving are hooks (the CLI writes files, a page could post
 * messages).
 */
import { paramLayout } from '../../engine/train/config.ts';
import { DataOrder, evaluationWindows } from '../../engine/train/data.ts';
import { initialParameters } from '../../engine/train/init.ts';
import { recipeLearningRate, recipeSteps, type TrainRecipe } from '../../engine/train/recipe.ts';
import type { TrainState } from '../../engine/train/state.ts';
import type { GpuContext } from '../context.ts';
import { GpuTrainer, type RoutingCounts } from './trainer.ts';

export interface TrainingData {
  train: Uint32Array; // token stream
  validation: Uint32Array;
}

export type TrainLogEntry =
  | { type: 'step'; step: number; loss: number; gradNorm: number; lr: number; tokens: number; seconds: number }
  | { type: 'validation'; step: number; loss: number; tokens: number; full: boolean; expertLoad: number[][]; seconds: number };

export interface TrainHooks {
  log(entry: TrainLogEntry): void | Promise<void>;
  saveState(state: TrainState): Promise<void>;
  /** Asked between steps; true stops the run after saving a state. */
  shouldStop?(): boolean;
}

/** Fraction of the routed assignments each expert of each layer received [L][E]. */
export function expertLoad(routing: RoutingCounts): number[][] {
  return routing.assignments.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((n) => (total ? n / total : 0));
  });
}

export async function runTraining(
  ctx: GpuContext,
  recipe: TrainRecipe,
  data: TrainingData,
  resume: TrainState | null,
  hooks: TrainHooks,
  /** Parameters to start from instead of the seeded initialization (a warm start); ignored when resuming. */
  initial?: Float32Array,
): Promise<{ params: Float32Array; step: number; finished: boolean }> {
  const layout = paramLayout(recipe.model);
  const S = recipe.model.contextLength;
  const trainer = new GpuTrainer(ctx, layout, recipe.windows, recipe.routerAuxLossCoef, {
    beta1: recipe.beta1,
    beta2: recipe.beta2,
    eps: recipe.adamEps,
    weightDecay: recipe.weightDecay,
    maxNorm: recipe.maxGradNorm,
  });
  try {
    if (resume) {
      await trainer.setParameters(resume.params);
      trainer.setMoments(resume.moments);
      trainer.step = resume.step;
    } else {
      await trainer.setParameters(initial ?? initialParameters(layout, recipe.seed));
    }
    const order = new DataOrder(data.train, { window: S, batch: recipe.windows, seed: recipe.seed });
    const validation = evaluationWindows(data.validation, S, recipe.windows);
    const validationSlice = validation.slice(0, Math.max(1, Math.floor(recipe.validationWindows / recipe.windows)));
    const start = performance.now();
    const seconds = () => (performance.now() - start) / 1000;
    const save = async () => hooks.saveState({ step: trainer.step, recipe, params: await trainer.getParameters(), moments: await trainer.getMoments() });
    const validate = async (full: boolean) => {
      const result = await trainer.evaluate(full ? validation : validationSlice);
      await hooks.log({
        type: 'validation',
        step: trainer.step,
        loss: result.loss,
        tokens: result.tokens,
        full,
        expertLoad: expertLoad(result.routing),
        seconds: seconds(),
      });
    };
    const flushLogs = async () => {
      for (const entry of await trainer.readLogs()) {
        const tokens = entry.step * recipe.windows * S;
        await hooks.log({
          type: 'step',
          step: entry.step,
          loss: entry.loss,
          gradNorm: entry.gradNorm,
          lr: recipeLearningRate(recipe, entry.step),
          tokens,
          seconds: seconds(),
        });
      }
    };
    const total = recipeSteps(recipe);
    while (trainer.step < total) {
      const step = trainer.step + 1;
      const lr = recipeLearningRate(recipe, step);
      const batch = order.batch(step - 1);
      await trainer.trainStep(batch.ids, batch.targets, lr);
      const stop = step < total && (hooks.shouldStop?.() ?? false);
      if (step % recipe.logEvery === 0 || step === total || stop) await flushLogs();
      if (step % recipe.validateEvery === 0 && step < total) await validate(false);
      if (step % recipe.checkpointEvery === 0 || step === total || stop) await save();
      if (stop) return { params: await trainer.getParameters(), step: trainer.step, finished: false };
    }
    await validate(true);
    return { params: await trainer.getParameters(), step: trainer.step, finished: true };
  } finally {
    trainer.destroy();
  }
}
