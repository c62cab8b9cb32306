/**
 * The reference forward pass of a decoder-only MoE transformer, on the CPU in f64: the oracle for the GPU
 * forward and for calibration statistics. Mirrors transformers' modeling files for the six families:
 *   h = embed(ids) * embedding_multiplier
 *   per layer: h += m * attn(norm1(h));  h += m * moe(norm2(h))      (m = residual_multiplier, Granite; else 1)
 *   logits = lm_head(norm(h)) / logits_scaling
 * Attention: q/k/v projections (+bias), optional clip (OLMoE), q/k norm (per head: Qwen3; full width: OLMoE),
 * RoPE, causal GQA softmax(q k^T * scale) v, o projection. MoE: router logits, the family's routing rule,
 * SwiGLU experts weighted by g, plus Qwen2-MoE's shared expert scaled by sigmoid(shared_expert_gate . x)
 * (DeepSeek / GLM-4.5: shared experts unscaled). DeepSeek-V2/V3 attend with multi-head latent attention (mlaContext).
 */
import type { MoeModelSpec } from '../model/spec.ts';
import { ropeFrequencies } from '../model/rope.ts';
import { MLA_NORM_EPS } from '../model/spec.ts';
import { applyRotary, causalAttention, embedding, layerNorm, linear, nllOfRow, rmsNorm, sigmoid, swiglu, type Vec } from './ops.ts';
import { route, type Routed } from './routing.ts';
import type { RefLayer, RefNorm, ReferenceWeights } from './weights.ts';

/** The inputs of a layer's attention projections (see ForwardOptions.onAttention). */
export interface AttentionInputs {
  input: Vec; // [T, H]
  context: Vec; // [T, Hq*D], [T, Hq*dv] under MLA
  qBInput?: Vec; // [T, rq]: q_a_layernorm(q_a_proj(x)), MLA with a q LoRA
  kvBInput?: Vec; // [T, r]: kv_a_layernorm(latent), MLA
}

/** MLA's inner projection inputs (AttentionInputs). */
type MlaInputs = Pick<AttentionInputs, 'qBInput' | 'kvBInput'>;

/** What one expert saw in an MoE layer: the tokens routed to it, their gates g, its input rows and intermediate. */
export interface ExpertTrace {
  tokens: number[]; // token positions, ascending
  gates: number[]; // g(t, e) for those tokens
  input: Vec; // [n, H]
  inter: Vec; // [n, I]: act(gate(x)) * up(x), the down projection's input
  output: Vec; // [n, H]: the expert's output before weighting by g
}

export interface MoeTrace {
  input: Vec; // [T, H]
  output: Vec; // [T, H] (shared expert included)
  routerLogits: Vec; // [T, E]
  routed: Routed[]; // [T]
  experts: ExpertTrace[]; // [E]
  sharedInter: Vec | null; // [T, S]
}

export interface ForwardOptions {
  /** Keep every MoE layer's trace (inputs, routing, per-expert activations). */
  trace?: boolean;
  /** Called with each MoE layer's trace as it is computed (calibration statistics hook). */
  onMoeLayer?: (layer: number, trace: MoeTrace) => void;
  /**
   * Called with each layer's attention inputs: the q/k/v input [T, H] and the o-projection input [T, Hq*D]; under
   * MLA also q_b_proj's input [T, rq] (with a q LoRA) and kv_b_proj's input [T, r].
   */
  onAttention?: (layer: number, inputs: AttentionInputs) => void;
  /** Stop after this many layers (sequential calibration runs a prefix of the model). */
  layers?: number;
}

export interface ForwardResult {
  logits: Vec; // [T, V]; empty when options.layers stopped early
  /** The residual stream after the last layer run [T, H]. */
  hidden: Vec;
  /** Per layer, when options.trace; null for dense layers. */
  moe: (MoeTrace | null)[];
}

function norm(spec: MoeModelSpec, x: Vec, rows: number, width: number, n: RefNorm): Vec {
  return spec.norm.kind === 'layer' ? layerNorm(x, rows, width, n.weight, n.bias, spec.norm.eps) : rmsNorm(x, rows, width, n.weight, spec.norm.eps);
}

/**
 * Multi-head latent attention (see MlaSpec): x [T, H] -> context [T, Hq * dv]. The decoupled rope key kr [T, dr] is
 * one for all heads; q and k are [T, Hq, D] with D = dn + dr (nope part first, as transformers concatenates).
 */
function mlaContext(spec: MoeModelSpec, layer: RefLayer, x: Vec, T: number, inputs: MlaInputs): Vec {
  const { hiddenSize: H, numHeads: Hq, headDim: D } = spec;
  const { qLoraRank, kvLoraRank: r, qkNopeDim: dn, qkRopeDim: dr, vDim: dv } = spec.mla!;
  const w = layer.mla!;
  let q: Vec;
  if (w.qA) {
    const qa = rmsNorm(linear(x, T, H, w.qA.weight, qLoraRank!, w.qA.bias), T, qLoraRank!, w.qANorm!, MLA_NORM_EPS);
    q = linear(qa, T, qLoraRank!, w.qB!, Hq * D);
    inputs.qBInput = qa;
  } else {
    q = linear(x, T, H, layer.q!.weight, Hq * D, layer.q!.bias);
  }
  const ckv = linear(x, T, H, w.kvA.weight, r + dr, w.kvA.bias); // [T, r + dr]
  const latent = new Float64Array(T * r);
  const kr = new Float64Array(T * dr);
  for (let t = 0; t < T; t++) {
    latent.set(ckv.subarray(t * (r + dr), t * (r + dr) + r), t * r);
    kr.set(ckv.subarray(t * (r + dr) + r, (t + 1) * (r + dr)), t * dr);
  }
  inputs.kvBInput = rmsNorm(latent, T, r, w.kvANorm, MLA_NORM_EPS);
  const kv = linear(inputs.kvBInput, T, r, w.kvB, Hq * (dn + dv)); // [T, Hq, dn + dv]
  const { invFreq, attentionFactor } = ropeFrequencies(spec);
  applyRotary(q, T, Hq, D, dn, invFreq, attentionFactor, spec.rope.pairs);
  applyRotary(kr, T, 1, dr, 0, invFreq, attentionFactor, spec.rope.pairs);
  const k = new Float64Array(T * Hq * D);
  const v = new Float64Array(T * Hq * dv);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < Hq; h++) {
      const from = (t * Hq + h) * (dn + dv);
      k.set(kv.subarray(from, from + dn), (t * Hq + h) * D);
      k.set(kr.subarray(t * dr, (t + 1) * dr), (t * Hq + h) * D + dn);
      v.set(kv.subarray(from + dn, from + dn + dv), (t * Hq + h) * dv);
    }
  }
  return causalAttention(q, k, v, T, Hq, Hq, D, spec.attentionScale, dv);
}

function attention(spec: MoeModelSpec, layer: RefLayer, l: number, x: Vec, T: number, onInputs?: (context: Vec, mla: MlaInputs) => void): Vec {
  const { hiddenSize: H, numHeads: Hq, numKvHeads: Hkv, headDim: D } = spec;
  if (spec.mla) {
    const mla: MlaInputs = {};
    const context = mlaContext(spec, layer, x, T, mla);
    onInputs?.(context, mla);
    return linear(context, T, Hq * spec.mla.vDim, layer.o.weight, H, layer.o.bias);
  }
  let q = linear(x, T, H, layer.q!.weight, Hq * D, layer.q!.bias);
  let k = linear(x, T, H, layer.k!.weight, Hkv * D, layer.k!.bias);
  const v = linear(x, T, H, layer.v!.weight, Hkv * D, layer.v!.bias);
  if (spec.qkNorm === 'full-width') {
    q = rmsNorm(q, T, Hq * D, layer.qNorm!, spec.norm.eps);
    k = rmsNorm(k, T, Hkv * D, layer.kNorm!, spec.norm.eps);
  } else if (spec.qkNorm === 'per-head') {
    q = rmsNorm(q, T * Hq, D, layer.qNorm!, spec.norm.eps);
    k = rmsNorm(k, T * Hkv, D, layer.kNorm!, spec.norm.eps);
  }
  if (spec.clipQkv !== null) {
    const c = spec.clipQkv;
    for (const t of [q, k, v]) for (let i = 0; i < t.length; i++) t[i] = Math.min(c, Math.max(-c, t[i]));
  }
  const { invFreq, attentionFactor } = ropeFrequencies(spec);
  applyRotary(q, T, Hq, D, 0, invFreq, attentionFactor, spec.rope.pairs);
  applyRotary(k, T, Hkv, D, 0, invFreq, attentionFactor, spec.rope.pairs);
  const context = causalAttention(q, k, v, T, Hq, Hkv, D, spec.attentionScale, D, spec.attentionWindows[l], layer.sinks);
  onInputs?.(context, {});
  return linear(context, T, Hq * D, layer.o.weight, H, layer.o.bias);
}

/** The MoE block on x [T, H]: routing, experts, shared expert. */
export function moeBlock(spec: MoeModelSpec, layer: RefLayer, x: Vec, T: number): MoeTrace {
  const { hiddenSize: H, numExperts: E, expertFfnSize: I, topK: K } = spec;
  const routerLogits = linear(x, T, H, layer.router!, E, layer.routerBias);
  if (layer.expertEnabled) {
    // Dropped experts: -inf logits, so every routing rule renormalizes over the kept experts.
    for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) if (!layer.expertEnabled[e]) routerLogits[t * E + e] = -Infinity;
  }
  // Steering's forced expert replaces the rule: top-K = {E} with gate 1 for every token (src/engine/model/steering.ts).
  const forced = layer.forcedExpert;
  const routed = Array.from({ length: T }, (_, t) =>
    forced !== null ? { experts: [forced], weights: [1] } : route(spec.routing, routerLogits.subarray(t * E, (t + 1) * E), K, layer.correctionBias),
  );
  const output = new Float64Array(T * H);
  const experts: ExpertTrace[] = [];
  for (let e = 0; e < E; e++) {
    const tokens: number[] = [];
    const gates: number[] = [];
    routed.forEach((r, t) => {
      const slot = r.experts.indexOf(e);
      if (slot >= 0) {
        tokens.push(t);
        gates.push(r.weights[slot]);
      }
    });
    const input = new Float64Array(tokens.length * H);
    tokens.forEach((t, n) => input.set(x.subarray(t * H, (t + 1) * H), n * H));
    // gpt_oss: clamped SwiGLU and expert biases; the other families: plain SwiGLU.
    const extras =
      spec.expertActivation.kind === 'swiglu' && !layer.gateUpBias
        ? null
        : { activation: spec.expertActivation, gateUpBias: layer.gateUpBias, gateUpBiasOffset: e * 2 * I, downBias: layer.downBias, downBiasOffset: e * H };
    const { out, inter } = swiglu(input, tokens.length, H, I, layer.gateUp!, e * 2 * I * H, layer.down!, e * H * I, extras);
    tokens.forEach((t, n) => {
      for (let h = 0; h < H; h++) output[t * H + h] += gates[n] * out[n * H + h];
    });
    experts.push({ tokens, gates, input, inter, output: out });
  }
  let sharedInter: Vec | null = null;
  if (layer.shared) {
    const { out, inter } = swiglu(x, T, H, layer.shared.width, layer.shared.gateUp, 0, layer.shared.down, 0);
    sharedInter = inter;
    for (let t = 0; t < T; t++) {
      let scale = 1;
      if (layer.sharedGate) {
        let dot = 0;
        for (let h = 0; h < H; h++) dot += x[t * H + h] * layer.sharedGate[h];
        scale = sigmoid(dot);
      }
      for (let h = 0; h < H; h++) output[t * H + h] += scale * out[t * H + h];
    }
  }
  return { input: x, output, routerLogits, routed, experts, sharedInter };
}

/** Runs the model on one sequence of token ids (positions 0..T-1). */
export function referenceForward(w: ReferenceWeights, ids: ArrayLike<number>, options: ForwardOptions = {}): ForwardResult {
  const { spec } = w;
  const { hiddenSize: H, vocabSize: V } = spec;
  const T = ids.length;
  for (let t = 0; t < T; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token id ${id} at position ${t} is outside the vocabulary (0..${V - 1})`);
  }
  let h = embedding(w.embedding, ids, H, spec.embeddingMultiplier);
  const moe: (MoeTrace | null)[] = [];
  const layerCount = options.layers ?? w.layers.length;
  w.layers.slice(0, layerCount).forEach((layer, l) => {
    const attnInput = norm(spec, h, T, H, layer.inputNorm);
    const attn = attention(spec, layer, l, attnInput, T, (context, mla) => options.onAttention?.(l, { input: attnInput, context, ...mla }));
    const afterAttention = new Float64Array(T * H);
    for (let i = 0; i < T * H; i++) afterAttention[i] = h[i] + spec.residualMultiplier * attn[i];
    h = afterAttention;
    const x = norm(spec, h, T, H, layer.postAttentionNorm);
    let ffnOut: Vec;
    if (spec.moeLayers[l]) {
      const trace = moeBlock(spec, layer, x, T);
      options.onMoeLayer?.(l, trace);
      moe.push(options.trace ? trace : null);
      ffnOut = trace.output;
    } else {
      ffnOut = swiglu(x, T, H, layer.dense!.width, layer.dense!.gateUp, 0, layer.dense!.down, 0).out;
      moe.push(null);
    }
    const next = new Float64Array(T * H);
    for (let i = 0; i < T * H; i++) next[i] = h[i] + spec.residualMultiplier * ffnOut[i];
    h = next;
  });
  if (layerCount < w.layers.length) return { logits: new Float64Array(0), hidden: h, moe };
  const final = norm(spec, h, T, H, w.finalNorm);
  const logits = linear(final, T, H, w.lmHead.weight, V, w.lmHead.bias);
  if (spec.logitsScaling !== 1) for (let i = 0; i < logits.length; i++) logits[i] /= spec.logitsScaling;
  return { logits, hidden: h, moe };
}

/** Mean next-token NLL (nats) over T-1 predictions: exactly transformers' shifted cross-entropy for one window. */
export function meanNextTokenNll(logits: Vec, ids: ArrayLike<number>, V: number): number {
  let total = 0;
  for (let t = 0; t + 1 < ids.length; t++) total += nllOfRow(logits, t * V, V, ids[t + 1]);
  return total / (ids.length - 1);
}
