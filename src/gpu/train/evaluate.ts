/**
 * Perplexity through the training forward with exactly `moe-lab ppl`'s windows (src/engine/eval/windows.ts: windows
 * of ctx tokens every stride, a window's first token not scored, a shorter last window kept), so the trainer's own
 * evaluation and the inference forward's can be compared number for number. Windows run B at a time (the trainer's
 * batch); a short last window is padded with id 0 after its end, which causal attention never lets reach the
 * scored positions.
 */
import { planWindows } from '../../engine/eval/windows.ts';
import type { GpuTrainer } from './trainer.ts';

export async function evaluateStream(
  trainer: GpuTrainer,
  stream: ArrayLike<number>,
  stride?: number,
): Promise<{ tokens: number; nll: number; windows: number }> {
  const { B, S } = trainer.buffers.shape;
  const plan = planWindows(stream.length, S, stride ?? S);
  let total = 0;
  for (let first = 0; first < plan.windows.length; first += B) {
    const group = plan.windows.slice(first, first + B);
    const ids = new Uint32Array(B * S);
    const targets = new Uint32Array(B * S);
    group.forEach((w, b) => {
      for (let p = 0; p < w.length; p++) {
        ids[b * S + p] = stream[w.start + p];
        if (p + 1 < w.length) targets[b * S + p] = stream[w.start + p + 1];
      }
    });
    const losses = await trainer.tokenLosses(ids, targets);
    // Scored token p of a window is predicted at position p - 1.
    group.forEach((w, b) => {
      for (let p = w.firstScored; p < w.length; p++) total += losses[b * S + p - 1];
    });
  }
  return { tokens: plan.predictions, nll: total / plan.predictions, windows: plan.windows.length };
}
