/**
 * CPU reference operators: plain loops, f64 accumulation, written to be obviously right rather than fast. They
 * are the oracle for every GPU kernel test and compose into the reference forward pass (forward.ts). Activations
 * are Float64Array; weights are the checkpoint's values widened to f32 (Float32Array).
 */

import type { ExpertActivation } from '../model/spec.ts';

export type Vec = Float64Array;
export type Weights = Float32Array;

/** h [T, H] = table[ids[t]] * multiplier: the token embedding (Granite scales it by embedding_multiplier). */
export function embedding(table: ArrayLike<number>, ids: ArrayLike<number>, H: number, multiplier = 1): Vec {
  const h = new Float64Array(ids.length * H);
  for (let t = 0; t < ids.length; t++) for (let i = 0; i < H; i++) h[t * H + i] = table[ids[t] * H + i] * multiplier;
  return h;
}

/** y [T, N] = x [T, K] . W^T + b, with W [N, K] row-major as in nn.Linear. */
export function linear(x: Vec, T: number, K: number, W: ArrayLike<number>, N: number, bias: ArrayLike<number> | null = null): Vec {
  const y = new Float64Array(T * N);
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let acc = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) acc += x[xo + k] * W[wo + k];
      y[t * N + n] = acc;
    }
  }
  return y;
}

/** RMSNorm over rows of `width` (Zhang & Sennrich 2019), as transformers: x * rsqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Vec, rows: number, width: number, weight: ArrayLike<number>, eps: number): Vec {
  const y = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let sumSq = 0;
    for (let i = 0; i < width; i++) sumSq += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(sumSq / width + eps);
    for (let i = 0; i < width; i++) y[o + i] = x[o + i] * inv * weight[i];
  }
  return y;
}

/** LayerNorm over rows of `width` with affine weight and optional bias (PhiMoE). Biased variance, as torch. */
export function layerNorm(x: Vec, rows: number, width: number, weight: ArrayLike<number>, bias: ArrayLike<number> | null, eps: number): Vec {
  const y = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let mean = 0;
    for (let i = 0; i < width; i++) mean += x[o + i];
    mean /= width;
    let variance = 0;
    for (let i = 0; i < width; i++) variance += (x[o + i] - mean) ** 2;
    variance /= width;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < width; i++) y[o + i] = (x[o + i] - mean) * inv * weight[i] + (bias ? bias[i] : 0);
  }
  return y;
}

/**
 * RoPE on part of each head, in place: x [T, heads, stride]; the d = 2 * invFreq.length dims from `offset` rotate,
 * pair i by angle pos * invFreq[i], cos and sin times `factor` (YaRN). Pairs 'half': (i, i + d/2) (rotate_half);
 * 'interleaved': (2i, 2i + 1) (DeepSeek's complex rotation; its rope_interleave de-interleaves q and k alike
 * afterwards, which leaves every q.k unchanged).
 */
export function applyRotary(
  x: Vec,
  T: number,
  heads: number,
  stride: number,
  offset: number,
  invFreq: ArrayLike<number>,
  factor: number,
  pairs: 'half' | 'interleaved',
): void {
  const half = invFreq.length;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * invFreq[i];
      const cos = Math.cos(angle) * factor;
      const sin = Math.sin(angle) * factor;
      const [ia, ib] = pairs === 'half' ? [i, i + half] : [2 * i, 2 * i + 1];
      for (let h = 0; h < heads; h++) {
        const o = (t * heads + h) * stride + offset;
        const a = x[o + ia];
        const b = x[o + ib];
        x[o + ia] = a * cos - b * sin;
        x[o + ib] = b * cos + a * sin;
      }
    }
  }
}

/**
 * Rotary position embedding, rotate-half convention (GPT-NeoX / transformers' apply_rotary_pos_emb), in place on
 * x [T, heads, D]: for i < D/2, angle = pos * theta^(-2i/D); (x_i, x_{i+D/2}) rotated by that angle.
 */
export function applyRope(x: Vec, T: number, heads: number, D: number, positions: ArrayLike<number>, theta: number): void {
  const half = D / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      // transformers computes inv_freq in f32: 1 / theta^(2i/D); keep f64 here (the difference is ~1e-7 relative).
      const angle = positions[t] / theta ** ((2 * i) / D);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const o = (t * heads + h) * D;
        const a = x[o + i];
        const b = x[o + i + half];
        x[o + i] = a * cos - b * sin;
        x[o + i + half] = b * cos + a * sin;
      }
    }
  }
}

/**
 * Causal grouped-query attention over one sequence: q [T, Hq, D], k/v [T, Hkv, D] -> out [T, Hq, D].
 * Query head h reads key/value head floor(h / (Hq / Hkv)). Softmax is max-subtracted (numerically stable).
 */
/**
 * `Dv`: the value head width when it differs from the q/k width D (MLA's v_head_dim); out is [T, Hq, Dv].
 * `window`: a sliding window w, query t sees keys t-w+1..t (transformers' sliding_window_overlay: kv > q - w).
 * `sinks` [Hq] (gpt_oss): a per-head logit that joins the softmax's denominator and takes no value.
 */
export function causalAttention(
  q: Vec,
  k: Vec,
  v: Vec,
  T: number,
  Hq: number,
  Hkv: number,
  D: number,
  scale: number,
  Dv = D,
  window: number | null = null,
  sinks: ArrayLike<number> | null = null,
): Vec {
  const out = new Float64Array(T * Hq * Dv);
  const group = Hq / Hkv;
  const scores = new Float64Array(T);
  for (let h = 0; h < Hq; h++) {
    const kvh = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      const first = window === null ? 0 : Math.max(0, t - window + 1);
      let max = sinks ? sinks[h] : -Infinity;
      const qo = (t * Hq + h) * D;
      for (let s = first; s <= t; s++) {
        const ko = (s * Hkv + kvh) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
        scores[s] = dot * scale;
        if (scores[s] > max) max = scores[s];
      }
      let sum = sinks ? Math.exp(sinks[h] - max) : 0;
      for (let s = first; s <= t; s++) {
        scores[s] = Math.exp(scores[s] - max);
        sum += scores[s];
      }
      const oo = (t * Hq + h) * Dv;
      for (let s = first; s <= t; s++) {
        const p = scores[s] / sum;
        const vo = (s * Hkv + kvh) * Dv;
        for (let d = 0; d < Dv; d++) out[oo + d] += p * v[vo + d];
      }
    }
  }
  return out;
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * SwiGLU FFN (Shazeer 2020) on rows x [R, H]: down(silu(x . gate^T) * (x . up^T)), with gate and up rows taken
 * from `gateUp` [2I, H] (gate rows 0..I-1, up rows I..2I-1) at element offset `gateUpOffset`, and down [H, I] at
 * `downOffset`. Returns { out [R, H], inter [R, I] } (inter = the down projection's input, for statistics).
 */
/** gpt_oss's expert extras for `swiglu`: its clamped activation and biases gate_up [2I] and down [H] at the offsets. */
export interface ExpertExtras {
  activation: ExpertActivation;
  gateUpBias: ArrayLike<number> | null;
  gateUpBiasOffset: number;
  downBias: ArrayLike<number> | null;
  downBiasOffset: number;
}

/** The expert activation of the gate and up pre-activations (see ExpertActivation). */
export function expertActivation(activation: ExpertActivation, g: number, u: number): number {
  if (activation.kind === 'swiglu') return silu(g) * u;
  const { alpha, limit } = activation;
  const gc = Math.min(g, limit);
  return (Math.min(limit, Math.max(-limit, u)) + 1) * gc * sigmoid(alpha * gc);
}

export function swiglu(
  x: Vec,
  R: number,
  H: number,
  I: number,
  gateUp: ArrayLike<number>,
  gateUpOffset: number,
  down: ArrayLike<number>,
  downOffset: number,
  extras: ExpertExtras | null = null,
): { out: Vec; inter: Vec } {
  const inter = new Float64Array(R * I);
  for (let r = 0; r < R; r++) {
    const xo = r * H;
    for (let i = 0; i < I; i++) {
      const go = gateUpOffset + i * H;
      const uo = gateUpOffset + (I + i) * H;
      let g = extras?.gateUpBias ? extras.gateUpBias[extras.gateUpBiasOffset + i] : 0;
      let u = extras?.gateUpBias ? extras.gateUpBias[extras.gateUpBiasOffset + I + i] : 0;
      for (let h = 0; h < H; h++) {
        g += x[xo + h] * gateUp[go + h];
        u += x[xo + h] * gateUp[uo + h];
      }
      inter[r * I + i] = extras ? expertActivation(extras.activation, g, u) : silu(g) * u;
    }
  }
  const out = new Float64Array(R * H);
  for (let r = 0; r < R; r++) {
    for (let h = 0; h < H; h++) {
      const wo = downOffset + h * I;
      let acc = extras?.downBias ? extras.downBias[extras.downBiasOffset + h] : 0;
      for (let i = 0; i < I; i++) acc += inter[r * I + i] * down[wo + i];
      out[r * H + h] = acc;
    }
  }
  return { out, inter };
}

/** log-softmax + NLL of `target` for one row of logits: logsumexp(z) - z[target], max-subtracted. */
export function nllOfRow(logits: ArrayLike<number>, offset: number, V: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[offset + v] - max);
  return Math.log(sum) + max - logits[offset + target];
}
