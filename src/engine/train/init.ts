/**
 * Seeded initial parameters in the flat layout of config.ts, as GPT-2 / transformers initialize decoders: every
 * matrix N(0, 0.02^2), the residual-branch output projections (o_proj, experts' w2) scaled by 1 / sqrt(2 L)
 * (Radford et al. 2019) so the residual stream's variance does not grow with depth, norm weights 1. The router gets
 * the same small N(0, 0.02^2): its logits start near 0, so the softmax is nearly uniform and the top-K choice is
 * decided by small random differences, spreading tokens evenly over the experts from the first step.
 */
import { createRng } from '../random.ts';
import type { ParamLayout } from './config.ts';

export const INIT_STD = 0.02;

export function initialParameters(layout: ParamLayout, seed: number): Float32Array {
  const values = new Float32Array(layout.count);
  const rng = createRng(seed);
  const residualScale = 1 / Math.sqrt(2 * layout.config.numLayers);
  const outputs = new Set(layout.layers.flatMap((l) => [l.o.name, l.w2.name]));
  for (const t of layout.tensors) {
    if (!t.decay) {
      values.fill(1, t.offset, t.offset + t.size);
      continue;
    }
    const std = INIT_STD * (outputs.has(t.name) ? residualScale : 1);
    for (let i = 0; i < t.size; i++) values[t.offset + i] = std * rng.normal();
  }
  return values;
}
