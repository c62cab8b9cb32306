/**
 * Calibration statistics: the file format of docs/architecture.md (safetensors, f32) and its in-memory form.
 * g(t, e) is the weight with which the architecture multiplies expert e's output for token t (after
 * renormalization where the architecture renormalizes); sums run over the calibration tokens routed to e:
 *   layers.{i}.expert_tokens [E]             tokens routed to each expert
 *   layers.{i}.expert_gate_sum [E]           sum of g
 *   layers.{i}.experts.{e}.input_sqnorm [H]  sum of x_j^2 of the expert's input (gate/up projections' input)
 *   layers.{i}.experts.{e}.input_sqnorm_gated [H]  sum of (g x_j)^2     (MoE-Pruner, Xie et al. 2024)
 *   layers.{i}.experts.{e}.inter_sqnorm [I] / inter_sqnorm_gated [I]   the same for act(gate(x)) * up(x)
 *   layers.{i}.coactivation [E, E]           tokens that chose both experts (diagonal: expert_tokens)
 * Beyond the contract (same naming scheme):
 *   layers.{i}.expert_output_norm_gated_sum [E]  sum of g * ||expert output||_2 (REAP saliency, Lasby et al. 2025)
 *   layers.{i}.expert_output_norm_sum [E]    sum of ||expert output||_2 (EAN, the expert activation norm)
 *   layers.{i}.expert_output_absmax [E]      max |expert output| over routed tokens and H (super experts, Su et al. 2025)
 *   layers.{i}.shared.{input_sqnorm,input_sqnorm_gated} [H], .{inter_sqnorm,inter_sqnorm_gated} [S]
 *                                            shared expert, gated by its sigmoid gate (1 when ungated)
 *   layers.{i}.attn.input_sqnorm [H]         input of q/k/v (after the input norm), over all tokens
 *   layers.{i}.attn.o_input_sqnorm [Hq*D]    input of the o projection ([Hq*dv] under MLA)
 *   layers.{i}.attn.q_b_input_sqnorm [rq]    MLA with a q LoRA only: q_b_proj's input, q_a_layernorm(q_a_proj(x))
 *   layers.{i}.attn.kv_b_input_sqnorm [r]    MLA only: kv_b_proj's input, kv_a_layernorm(latent)
 *   layers.{i}.router_entropy_hist [B], layers.{i}.router_margin_hist [B]  router health (router-health.ts)
 * The header's __metadata__ holds tokens (T), mode, samples, seq_len, seed and the model's content hash.
 */
import { ModelFileError } from '../errors.ts';
import type { CalibrationMode } from '../experiment/schema.ts';
import { bytesToFloat32, writeSafetensors, type SafetensorsHeader } from '../io/safetensors.ts';
import { attentionOutputWidth, type MoeModelSpec } from '../model/spec.ts';

export const HISTOGRAM_BINS = 32;

/** Statistics added after the format's first files: read as NaN (unknown) when a file lacks them. */
const ADDED_LATER = ['.expert_output_norm_sum', '.expert_output_absmax', '.attn.q_b_input_sqnorm', '.attn.kv_b_input_sqnorm'];

export interface ExpertStats {
  inputSqNorm: Float32Array; // [H]
  inputSqNormGated: Float32Array; // [H]
  interSqNorm: Float32Array; // [I]
  interSqNormGated: Float32Array; // [I]
}

export interface LayerStats {
  expertTokens: Float32Array; // [E]
  expertGateSum: Float32Array; // [E]
  expertOutputNormGatedSum: Float32Array; // [E]
  /** Sum of ||expert output||_2 over routed tokens, ungated (EAN). */
  expertOutputNormSum: Float32Array; // [E]
  /** Max |expert output| (the down projection's output before g) over routed tokens and H: super experts. */
  expertOutputAbsMax: Float32Array; // [E]
  coactivation: Float32Array; // [E, E]
  experts: ExpertStats[]; // [E]
  shared: ExpertStats | null;
  attnInputSqNorm: Float32Array; // [H]
  attnOInputSqNorm: Float32Array; // [Hq*D]
  /** MLA with a q LoRA: q_b_proj's input columns [rq]; null otherwise. */
  attnQBInputSqNorm: Float32Array | null;
  /** MLA: kv_b_proj's input columns [r]; null otherwise. */
  attnKvBInputSqNorm: Float32Array | null;
  routerEntropyHist: Float32Array; // [B] over [0, ln E]
  routerMarginHist: Float32Array; // [B] over [0, 1]
}

/** dense or sequential: the settings vocabulary's `mode` row (src/engine/experiment/vocabulary.ts). */
export type { CalibrationMode };

export interface CalibrationStats {
  tokens: number; // T: calibration tokens that went through the model
  mode: CalibrationMode;
  metadata: Record<string, string>;
  layers: (LayerStats | null)[]; // [L]; null for dense (non-MoE) layers
}

export function emptyLayerStats(spec: MoeModelSpec): LayerStats {
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
  const expert = (width: number): ExpertStats => ({
    inputSqNorm: new Float32Array(H),
    inputSqNormGated: new Float32Array(H),
    interSqNorm: new Float32Array(width),
    interSqNormGated: new Float32Array(width),
  });
  return {
    expertTokens: new Float32Array(E),
    expertGateSum: new Float32Array(E),
    expertOutputNormGatedSum: new Float32Array(E),
    expertOutputNormSum: new Float32Array(E),
    expertOutputAbsMax: new Float32Array(E),
    coactivation: new Float32Array(E * E),
    experts: Array.from({ length: E }, () => expert(I)),
    shared: spec.sharedExpert ? expert(spec.sharedExpert.ffnSize) : null,
    attnInputSqNorm: new Float32Array(H),
    attnOInputSqNorm: new Float32Array(attentionOutputWidth(spec)),
    attnQBInputSqNorm: spec.mla?.qLoraRank ? new Float32Array(spec.mla.qLoraRank) : null,
    attnKvBInputSqNorm: spec.mla ? new Float32Array(spec.mla.kvLoraRank) : null,
    routerEntropyHist: new Float32Array(HISTOGRAM_BINS),
    routerMarginHist: new Float32Array(HISTOGRAM_BINS),
  };
}

/** Every tensor of a layer's statistics with its file name, in a fixed order. */
export function layerTensors(i: number, s: LayerStats): [string, Float32Array, number[]][] {
  const E = s.expertTokens.length;
  const p = `layers.${i}`;
  const out: [string, Float32Array, number[]][] = [
    [`${p}.expert_tokens`, s.expertTokens, [E]],
    [`${p}.expert_gate_sum`, s.expertGateSum, [E]],
    [`${p}.expert_output_norm_gated_sum`, s.expertOutputNormGatedSum, [E]],
    [`${p}.expert_output_norm_sum`, s.expertOutputNormSum, [E]],
    [`${p}.expert_output_absmax`, s.expertOutputAbsMax, [E]],
    [`${p}.coactivation`, s.coactivation, [E, E]],
  ];
  const expert = (prefix: string, x: ExpertStats) => {
    out.push([`${prefix}.input_sqnorm`, x.inputSqNorm, [x.inputSqNorm.length]]);
    out.push([`${prefix}.input_sqnorm_gated`, x.inputSqNormGated, [x.inputSqNormGated.length]]);
    out.push([`${prefix}.inter_sqnorm`, x.interSqNorm, [x.interSqNorm.length]]);
    out.push([`${prefix}.inter_sqnorm_gated`, x.interSqNormGated, [x.interSqNormGated.length]]);
  };
  s.experts.forEach((x, e) => expert(`${p}.experts.${e}`, x));
  if (s.shared) expert(`${p}.shared`, s.shared);
  out.push([`${p}.attn.input_sqnorm`, s.attnInputSqNorm, [s.attnInputSqNorm.length]]);
  out.push([`${p}.attn.o_input_sqnorm`, s.attnOInputSqNorm, [s.attnOInputSqNorm.length]]);
  if (s.attnQBInputSqNorm) out.push([`${p}.attn.q_b_input_sqnorm`, s.attnQBInputSqNorm, [s.attnQBInputSqNorm.length]]);
  if (s.attnKvBInputSqNorm) out.push([`${p}.attn.kv_b_input_sqnorm`, s.attnKvBInputSqNorm, [s.attnKvBInputSqNorm.length]]);
  out.push([`${p}.router_entropy_hist`, s.routerEntropyHist, [s.routerEntropyHist.length]]);
  out.push([`${p}.router_margin_hist`, s.routerMarginHist, [s.routerMarginHist.length]]);
  return out;
}

/** Serializes statistics as the contract's safetensors file (f32). */
export function statsToSafetensors(stats: CalibrationStats): Uint8Array {
  const tensors = stats.layers.flatMap((s, i) =>
    s
      ? layerTensors(i, s).map(([name, data, shape]) => ({
          name,
          dtype: 'F32' as const,
          shape,
          data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        }))
      : [],
  );
  return writeSafetensors(tensors, { ...stats.metadata, tokens: String(stats.tokens), mode: stats.mode, format: 'moe-lab-calibration-stats/1' });
}

/** Reads a statistics file (all of its `bytes`) back for `spec`; every tensor must be there with the expected shape. */
export function statsFromSafetensors(spec: MoeModelSpec, header: SafetensorsHeader, bytes: Uint8Array): CalibrationStats {
  const file = header.file;
  const layers = spec.moeLayers.map((isMoe, i) => {
    if (!isMoe) return null;
    const s = emptyLayerStats(spec);
    for (const [name, target, shape] of layerTensors(i, s)) {
      const info = header.tensors.get(name);
      if (!info && ADDED_LATER.some((suffix) => name.endsWith(suffix))) {
        target.fill(NaN); // a file from before these statistics: EAN, super experts, MLA's q_b / kv_b inputs are unknown, not zero
        continue;
      }
      if (!info) throw new ModelFileError(file, 'missing-tensor', `missing statistics tensor ${name} (statistics of another model?)`);
      if (info.dtype !== 'F32' || info.shape.join(',') !== shape.join(',')) {
        throw new ModelFileError(file, 'shape-mismatch', `${name} is ${info.dtype} [${info.shape}], expected F32 [${shape}]`);
      }
      target.set(bytesToFloat32(info, bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength)));
    }
    return s;
  });
  const tokens = Number(header.metadata.tokens ?? NaN);
  const mode = header.metadata.mode === 'sequential' ? 'sequential' : 'dense';
  return { tokens: Number.isFinite(tokens) ? tokens : 0, mode, metadata: header.metadata, layers };
}
