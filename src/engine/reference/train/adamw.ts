/**
 * CPU reference of shaders/train/adamw.wgsl (f64): global-norm clipping, then one AdamW step (Loshchilov & Hutter
 * 2019) with bias correction and decoupled weight decay on the elements before `decayEnd`. Updates in place.
 */
import type { AdamWSettings } from '../../train/recipe.ts';

/** Returns the gradient norm before clipping. */
export function adamwReferenceStep(
  params: Float64Array,
  grads: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  step: number,
  decayEnd: number,
  s: AdamWSettings,
): number {
  let sumSq = 0;
  for (let i = 0; i < grads.length; i++) sumSq += grads[i] * grads[i];
  const norm = Math.sqrt(sumSq);
  const clip = Math.min(1, s.maxNorm / (norm + 1e-6));
  for (let i = 0; i < params.length; i++) {
    const g = grads[i] * clip;
    m[i] = s.beta1 * m[i] + (1 - s.beta1) * g;
    v[i] = s.beta2 * v[i] + (1 - s.beta2) * g * g;
    const mHat = m[i] / (1 - s.beta1 ** step);
    const vHat = v[i] / (1 - s.beta2 ** step);
    const decay = i < decayEnd ? s.weightDecay : 0;
    params[i] -= s.lr * (mHat / (Math.sqrt(vHat) + s.eps) + decay * params[i]);
  }
  return norm;
}
