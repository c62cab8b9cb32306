/**
 * Plain CPU references of the distillation kernels (shaders/distill/*), in f64: the oracles of
 * tests/gpu/distill-kernels.test.ts. Rows follow expert_rows.wgsl's table: expert e owns rows
 * table[e] .. table[e] + table[E + e] of a [R, H] buffer.
 */
import type { ExpertActivation } from '../../model/spec.ts';

const NO_EXPERT = 0xffffffff;

/**
 * expert_rows.wgsl: from the routing of one forward (offsets [E + 1], sortedRows [T K] as the inference dispatch
 * writes them) the table [2E], the gathered rows xRows [T K, H] (0 past offsets[E]) and rowExpert [T K].
 */
export function expertRowsReference(
  x: ArrayLike<number>,
  sortedRows: ArrayLike<number>,
  offsets: ArrayLike<number>,
  T: number,
  H: number,
  E: number,
  K: number,
): { table: Uint32Array; xRows: Float64Array; rowExpert: Uint32Array } {
  const table = new Uint32Array(2 * E);
  for (let e = 0; e < E; e++) {
    table[e] = offsets[e];
    table[E + e] = offsets[e + 1] - offsets[e];
  }
  const xRows = new Float64Array(T * K * H);
  const rowExpert = new Uint32Array(T * K).fill(NO_EXPERT);
  for (let e = 0; e < E; e++) {
    for (let r = offsets[e]; r < offsets[e + 1]; r++) {
      rowExpert[r] = e;
      const t = Math.floor(sortedRows[r] / K);
      for (let h = 0; h < H; h++) xRows[r * H + h] = x[t * H + h];
    }
  }
  return { table, xRows, rowExpert };
}

/** expert_matmul.wgsl rows: out [R, N] = a [R, K] . W_e^T, W_e (n, k) at offset + e * expert + n * wn + k * wk. */
export function expertRowsMatmulReference(
  a: ArrayLike<number>,
  w: ArrayLike<number>,
  rowExpert: Uint32Array,
  s: { rows: number; n: number; k: number; offset: number; expert: number; wn: number; wk: number },
): Float64Array {
  const out = new Float64Array(s.rows * s.n);
  for (let r = 0; r < s.rows; r++) {
    const e = rowExpert[r];
    if (e === NO_EXPERT) continue;
    for (let n = 0; n < s.n; n++) {
      let sum = 0;
      for (let k = 0; k < s.k; k++) sum += a[r * s.k + k] * w[s.offset + e * s.expert + n * s.wn + k * s.wk];
      out[r * s.n + n] = sum;
    }
  }
  return out;
}

/** expert_matmul.wgsl outer: per expert e, [M, N] = sum over its rows of a[r, :M]^T b[r, :N]; [E, M, N]. */
export function expertOuterReference(a: ArrayLike<number>, b: ArrayLike<number>, table: Uint32Array, M: number, N: number, E: number): Float64Array {
  const out = new Float64Array(E * M * N);
  for (let e = 0; e < E; e++) {
    for (let r = table[e]; r < table[e] + table[E + e]; r++) {
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) out[(e * M + m) * N + n] += a[r * M + m] * b[r * N + n];
    }
  }
  return out;
}

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

/** d mse_e / d student [R, H] = 2 / (n_e H) (student - teacher) on expert rows, 0 elsewhere. */
export function expertGradReference(table: Uint32Array, student: ArrayLike<number>, teacher: ArrayLike<number>, E: number, H: number): Float64Array {
  const delta = new Float64Array(student.length);
  for (let e = 0; e < E; e++) {
    const n = table[E + e];
    for (let i = table[e] * H; i < (table[e] + n) * H; i++) delta[i] = (2 / (n * H)) * (student[i] - teacher[i]);
  }
  return delta;
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

/**
 * The experts' activation on one (gate g, up u) pair with its partial derivatives, in f64: SwiGLU silu(g) u, or
 * gpt_oss's clamped SwiGLU (transformers' GptOssExperts._apply_gate: gc = min(g, L), uc = clamp(u, -L, L), (uc + 1) gc sigmoid(alpha gc)), where the clamps pass no
 * gradient outside their range (torch.clamp's backward: 1 inside [min, max], bounds included, else 0).
 */
export function expertActivationReference(g: number, u: number, activation: ExpertActivation): { value: number; dg: number; du: number } {
  if (activation.kind === 'swiglu') {
    const s = 1 / (1 + Math.exp(-g));
    return { value: g * s * u, dg: u * s * (1 + g * (1 - s)), du: g * s };
  }
  const { alpha, limit } = activation;
  const gc = Math.min(g, limit);
  const uc = Math.min(Math.max(u, -limit), limit);
  const s = 1 / (1 + Math.exp(-alpha * gc));
  const dgc = (uc + 1) * s * (1 + alpha * gc * (1 - s));
  return { value: (uc + 1) * gc * s, dg: g <= limit ? dgc : 0, du: u >= -limit && u <= limit ? gc * s : 0 };
}

/** clamped_swiglu.wgsl forward: gu [R, 2I] (gate columns, then up columns) -> act [R, I]. */
export function clampedSwigluReference(gu: ArrayLike<number>, R: number, I: number, activation: ExpertActivation): Float64Array {
  const act = new Float64Array(R * I);
  for (let r = 0; r < R; r++)
    for (let i = 0; i < I; i++) act[r * I + i] = expertActivationReference(gu[r * 2 * I + i], gu[r * 2 * I + I + i], activation).value;
  return act;
}

/** clamped_swiglu.wgsl backward: d act [R, I] -> d gu [R, 2I]. */
export function clampedSwigluBackwardReference(
  gu: ArrayLike<number>,
  dAct: ArrayLike<number>,
  R: number,
  I: number,
  activation: ExpertActivation,
): Float64Array {
  const dGu = new Float64Array(R * 2 * I);
  for (let r = 0; r < R; r++) {
    for (let i = 0; i < I; i++) {
      const { dg, du } = expertActivationReference(gu[r * 2 * I + i], gu[r * 2 * I + I + i], activation);
      dGu[r * 2 * I + i] = dAct[r * I + i] * dg;
      dGu[r * 2 * I + I + i] = dAct[r * I + i] * du;
    }
  }
  return dGu;
}

/** expert_bias.wgsl: y [R, N] plus, on each row of an expert e = rowExpert[r], its bias bias[offset + e N ..]; rows of no expert unchanged. */
export function expertBiasReference(y: ArrayLike<number>, bias: ArrayLike<number>, rowExpert: Uint32Array, N: number, offset: number): Float64Array {
  const out = Float64Array.from(y);
  for (let r = 0; r < rowExpert.length; r++) {
    const e = rowExpert[r];
    if (e === NO_EXPERT) continue;
    for (let n = 0; n < N; n++) out[r * N + n] += bias[offset + e * N + n];
  }
  return out;
}
