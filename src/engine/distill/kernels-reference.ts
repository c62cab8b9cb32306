/**
 * Plain CPU references of the distillation kernels (shaders/distill/*), in f64: the oracles of
 * tests/gpu/distill-kernels.test.ts. Rows follow moe_dispatch.wgsl's table: expert e owns rows
 * table[e] .. table[e] + table[E + e] of a [R, H] buffer.
 */

/** mse [E]: mean over expert e's rows and H of (student - teacher)^2; 0 for an expert without rows. */
export function expertMseReference(table: Uint32Array, student: ArrayLike<number>, teacher: ArrayLike<number>, E: number, H: number): Float64Array {
  const mse = new Float64Array(E);
  for (let e = 0; e < E; e++) {
    const n = table[E + e];
    let sum = 0;
    for (let i = table[e] * H; i < (table[e] + n) * H; i++) sum += (student[i] - teacher[i]) ** 2;
    mse[e] = n ? sum / (n * H) : 0;
  }
  return mse;
}

/** delta [R, H] = 2 lambda / (n_e H) (student - teacher) on expert rows (0 on padding); dStudent + delta. */
export function expertGradReference(
  table: Uint32Array,
  student: ArrayLike<number>,
  teacher: ArrayLike<number>,
  dStudent: ArrayLike<number>,
  E: number,
  H: number,
  lambda: number,
): { delta: Float64Array; dStudent: Float64Array } {
  const delta = new Float64Array(student.length);
  const out = Float64Array.from(dStudent);
  for (let e = 0; e < E; e++) {
    const n = table[E + e];
    for (let i = table[e] * H; i < (table[e] + n) * H; i++) {
      delta[i] = ((2 * lambda) / (n * H)) * (student[i] - teacher[i]);
      out[i] += delta[i];
    }
  }
  return { delta, dStudent: out };
}

export interface AdamWReferenceSettings {
  step: number; // t, from 1
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decayEnd: number;
  maxNorm: number;
}

const bit = (bits: Uint32Array, i: number) => ((bits[i >>> 5] >>> (i & 31)) & 1) === 1;

/**
 * masked_adamw.wgsl in f64: gradient masked by `update`, global norm and clip, AdamW on updated elements, pruned
 * (kept = 0) elements set to 0 with zero moments, frozen elements untouched. Returns new arrays and the norm.
 */
export function maskedAdamWReference(
  grads: ArrayLike<number>,
  weights: ArrayLike<number>,
  moments: ArrayLike<number>,
  update: Uint32Array,
  kept: Uint32Array,
  s: AdamWReferenceSettings,
): { weights: Float64Array; moments: Float64Array; norm: number } {
  const P = weights.length;
  const g = Float64Array.from(grads, (v, i) => (bit(update, i) ? v : 0));
  const norm = Math.sqrt(g.reduce((acc, v) => acc + v * v, 0));
  const clip = Math.min(1, s.maxNorm / (norm + 1e-6));
  const w = Float64Array.from(weights);
  const m = Float64Array.from(moments);
  for (let i = 0; i < P; i++) {
    if (!bit(kept, i)) {
      w[i] = 0;
      m[i] = 0;
      m[P + i] = 0;
      continue;
    }
    if (!bit(update, i)) continue;
    const gi = g[i] * clip;
    m[i] = s.beta1 * m[i] + (1 - s.beta1) * gi;
    m[P + i] = s.beta2 * m[P + i] + (1 - s.beta2) * gi * gi;
    const mHat = m[i] / (1 - s.beta1 ** s.step);
    const vHat = m[P + i] / (1 - s.beta2 ** s.step);
    const decay = i < s.decayEnd ? s.weightDecay : 0;
    w[i] -= s.lr * (mHat / (Math.sqrt(vHat) + s.eps) + decay * w[i]);
  }
  return { weights: w, moments: m, norm };
}

/** router_mask.wgsl: logits [T, E] of experts with enabled[e] = 0 set to -1e30 (as f32). */
export function routerMaskReference(logits: ArrayLike<number>, enabled: ArrayLike<number>, E: number): Float32Array {
  return Float32Array.from(logits, (v, i) => (enabled[i % E] ? v : -1e30));
}
