/**
 * The distillation loop on a GpuDistiller: lambda measured on the first batch (or given), seeded batches
 * (src/engine/distill/data.ts), warmup + cosine learning rate, step losses read every `logEvery` steps. Stops
 * between steps when the signal aborts or `shouldStop` says so, leaving parameters, moments and step on the GPU:
 * calling it again continues exactly where it stopped (the page's pause / resume). No Node APIs.
 */
import type { WindowOrder } from '../../engine/distill/data.ts';
import { distillSchedule, initialLambda, type DistillSettings } from '../../engine/distill/settings.ts';
import { learningRate } from '../../engine/train/schedule.ts';
import type { DistillStepLog, GpuDistiller } from './distiller.ts';

export interface DistillLogEntry extends DistillStepLog {
  lr: number;
  lambda: number;
  /** Seconds since this call started. */
  seconds: number;
}

export interface DistillLambda {
  lambda: number;
  /** CE and L_expert of the first batch (the pruned student before any step). */
  crossEntropy: number;
  expertLoss: number;
}

export interface DistillRunHooks {
  onLambda?(measured: DistillLambda): void | Promise<void>;
  onLog?(entries: DistillLogEntry[]): void | Promise<void>;
  /** Asked between steps; true stops after the current step (logs flushed). */
  shouldStop?(): boolean;
  signal?: AbortSignal;
}

/** Sets lambda from the first batch when the settings leave it open (a resumed distiller keeps its own). */
export async function ensureLambda(d: GpuDistiller, order: WindowOrder, settings: DistillSettings): Promise<DistillLambda | null> {
  if (d.lambda !== null) return null;
  const first = order.batchAt(0);
  const { crossEntropy, expertLoss } = await d.evaluateBatch(first.ids, first.targets);
  d.lambda = settings.lambda ?? initialLambda(crossEntropy, expertLoss);
  return { lambda: d.lambda, crossEntropy, expertLoss };
}

/** Runs steps d.step + 1 .. settings.steps; returns whether it got to the end. */
export async function runDistillation(
  d: GpuDistiller,
  order: WindowOrder,
  settings: DistillSettings,
  hooks: DistillRunHooks = {},
): Promise<{ finished: boolean }> {
  if (order.window !== d.buffers.shape.S || order.batch !== d.buffers.shape.B) {
    throw new RangeError(`the data has ${order.batch} windows of ${order.window} per step, the distiller ${d.buffers.shape.B} of ${d.buffers.shape.S}`);
  }
  const measured = await ensureLambda(d, order, settings);
  if (measured) await hooks.onLambda?.(measured);
  const schedule = distillSchedule(settings);
  const start = performance.now();
  const flush = async () => {
    const entries = await d.readLogs();
    if (!entries.length) return;
    const seconds = (performance.now() - start) / 1000;
    await hooks.onLog?.(entries.map((e) => ({ ...e, lr: learningRate(schedule, e.step), lambda: d.lambda!, seconds })));
  };
  while (d.step < settings.steps) {
    if (hooks.signal?.aborted || hooks.shouldStop?.()) {
      await flush();
      return { finished: false };
    }
    const step = d.step + 1;
    const batch = order.batchAt(step - 1);
    await d.trainStep(batch.ids, batch.targets, learningRate(schedule, step));
    if (step % settings.logEvery === 0 || step === settings.steps) await flush();
  }
  await flush();
  return { finished: true };
}
