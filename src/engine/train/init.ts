/**
 * Seeded initial parameters in the flat layout of config.ts, as GPT-2 / transformers initialize decoders: every
 * matrix N(0, 0.02^2), the residual-branch output projections (o_proj, experts' w2) scaled by 1 / sqrt(2 L)
 * (Radford et al. 2019) so the residual stream's variance does not grow with depth, norm weights 1. The router gets
 * the same small N(0, 0.02^2): its logits start near 0, so the softmax is nearly uniform and the top-K choice is
 * decided by small random differences, spreading tokens evenly over the experts from the first step.
 */
import { createRng } from '../random.ts';
import { paramLayout, type ParamLayout, type TrainModelConfig } from './config.ts';

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

/**
 * A warm start: the parameters of a checkpoint the trainer exported (`model`, a Hugging Face folder, whose shape is
 * `from`), each of its experts split into `splitExperts` finer experts (DeepSeekMoE's fine-grained segmentation,
 * Dai et al. 2024): expert e's FFN columns [s J, (s + 1) J) become expert e * splitExperts + s, with J = I / splitExperts,
 * its router row copied to each part (times `routerScale`) and its down projection's columns times `downScale`.
 * With identical router rows the parts of one expert are always chosen together, so K = K_from * splitExperts
 * reproduces the source's expert choice; the gates change with the routing rule (renormalized top-2 of 8 ->
 * unnormalized top-8 of 32: each part's gate is a quarter of its expert's softmax probability), which
 * `routerScale` (sharper softmax) and `downScale` (larger expert outputs) compensate for in part. Training then
 * separates the parts (their gradients differ). AdamW starts with fresh moments.
 */
export interface WarmStart {
  /** The source checkpoint's folder, relative to the repository root. */
  model: string;
  /** The source's model shape (its recipe's `model`). */
  from: TrainModelConfig;
  splitExperts: number;
  /**
   * Router rows times this: one factor for every layer, or one per layer (layer 0 first). A factor above 1 sharpens
   * the softmax, so the gates spread further from token to token; per layer, because the deep layers' masks are the
   * ones that stay closest to Wanda's (docs/training.md, "Sharper deep routers").
   */
  routerScale: number | readonly number[];
  downScale: number;
  /**
   * Perturbs each part's router row before the scale: row + std * sd(parent row) * z, z ~ N(0, 1) seeded by `seed`
   * (one draw per part and column). Identical rows keep the parts of one expert always chosen together with equal
   * gates; distinct rows let each part see its own tokens with its own gates from the first step, which is what
   * separates router-weighted from plain activation norms (docs/training.md).
   */
  routerNoise?: { std: number; seed: number };
}

/** The factor on layer `l`'s router rows. */
export function routerScaleOf(w: WarmStart, l: number): number {
  return typeof w.routerScale === 'number' ? w.routerScale : w.routerScale[l];
}

/** Checks that `w` turns its source shape into `target`; throws RangeError naming the field. */
export function validateWarmStart(w: WarmStart, target: TrainModelConfig): void {
  const p = w.splitExperts;
  if (!Number.isInteger(p) || p < 1) throw new RangeError(`warm start: splitExperts must be a positive integer (got ${p})`);
  const scales = typeof w.routerScale === 'number' ? [w.routerScale] : w.routerScale;
  if (typeof w.routerScale !== 'number' && scales.length !== target.numLayers)
    throw new RangeError(`warm start: routerScale has ${scales.length} factors, the model has ${target.numLayers} layers`);
  if (!scales.every((s) => Number.isFinite(s) && s > 0)) throw new RangeError(`warm start: routerScale must be positive (got ${scales.join(', ')})`);
  const expected: TrainModelConfig = {
    ...w.from,
    numExperts: w.from.numExperts * p,
    topK: w.from.topK * p,
    expertFfnSize: w.from.expertFfnSize / p,
    routing: target.routing,
  };
  for (const key of Object.keys(expected) as (keyof TrainModelConfig)[]) {
    if (expected[key] !== target[key]) {
      throw new RangeError(`warm start from ${w.model}: the model's ${key} must be ${String(expected[key])} (got ${String(target[key])})`);
    }
  }
}

function standardDeviation(x: Float32Array): number {
  let mean = 0;
  for (const v of x) mean += v / x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2 / x.length;
  return Math.sqrt(variance);
}

/** Target flat parameters from the source's flat parameters (`sourceParams` in paramLayout(w.from)). */
export function warmStartParameters(layout: ParamLayout, w: WarmStart, sourceParams: Float32Array): Float32Array {
  validateWarmStart(w, layout.config);
  const source = paramLayout(w.from);
  if (sourceParams.length !== source.count)
    throw new RangeError(`warm start from ${w.model}: ${sourceParams.length} parameters, its shape has ${source.count}`);
  const values = new Float32Array(layout.count);
  const { hiddenSize: H, expertFfnSize: J, numExperts: E } = layout.config;
  const I = w.from.expertFfnSize;
  const p = w.splitExperts;
  const noise = w.routerNoise;
  const rng = noise ? createRng(noise.seed) : undefined;
  const copy = (to: { offset: number; size: number }, from: { offset: number }) =>
    values.set(sourceParams.subarray(from.offset, from.offset + to.size), to.offset);
  copy(layout.embed, source.embed);
  copy(layout.lmHead, source.lmHead);
  copy(layout.finalNorm, source.finalNorm);
  layout.layers.forEach((t, l) => {
    const s = source.layers[l];
    const routerScale = routerScaleOf(w, l);
    for (const key of ['qkv', 'o', 'attnNorm', 'moeNorm'] as const) copy(t[key], s[key]);
    for (let e = 0; e < E; e++) {
      const parent = Math.floor(e / p);
      const part = e % p;
      const row = sourceParams.subarray(s.router.offset + parent * H, s.router.offset + (parent + 1) * H);
      const sd = noise ? standardDeviation(row) * noise.std : 0;
      for (let h = 0; h < H; h++) values[t.router.offset + e * H + h] = routerScale * (row[h] + (rng ? sd * rng.normal() : 0));
      // w13 [E, 2J, H]: the part's gate rows, then its up rows, from the parent's [2I, H].
      for (const half of [0, 1]) {
        const from = s.w13.offset + parent * 2 * I * H + (half * I + part * J) * H;
        values.set(sourceParams.subarray(from, from + J * H), t.w13.offset + e * 2 * J * H + half * J * H);
      }
      // w2 [E, H, J]: the part's columns of the parent's [H, I].
      for (let h = 0; h < H; h++) {
        for (let j = 0; j < J; j++) values[t.w2.offset + (e * H + h) * J + j] = w.downScale * sourceParams[s.w2.offset + (parent * H + h) * I + part * J + j];
      }
    }
  });
  return values;
}
