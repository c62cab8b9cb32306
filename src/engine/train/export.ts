/**
 * Trained flat parameters -> a Hugging Face checkpoint (pure: bytes out): model.safetensors with transformers'
 * names (model.embed_tokens, model.layers.{l}.self_attn.{q,k,v,o}_proj, input_layernorm /
 * post_attention_layernorm, model.norm, lm_head; the experts as MixtralForCausalLM's block_sparse_moe.gate and
 * experts.{e}.w1/w2/w3, or with unnormalized routing as Qwen2MoeForCausalLM's mlp.gate and
 * experts.{e}.gate_proj/down_proj/up_proj plus zero q/k/v biases), in f16 when every value fits its range, else
 * bf16, and the matching config.json.
 */
import { writeSafetensors, type Dtype } from '../io/safetensors.ts';
import { encodeWeights } from '../io/dtype-encoding.ts';
import { hfConfigJson, renormalizesTopK, type ParamLayout } from './config.ts';

/** Largest finite f16 is 65504; leave headroom so rounding never reaches infinity. */
const F16_LIMIT = 60000;
/** Smallest f16 subnormal is 2^-24; values below half of it round to 0. */
const F16_ZERO = 2 ** -25;

export interface ExportReport {
  dtype: 'f16' | 'bf16';
  maxAbs: number;
  /** Nonzero values that the chosen dtype stores as 0. */
  flushedToZero: number;
  tensors: number;
}

export interface HfExport {
  safetensors: Uint8Array;
  config: Record<string, unknown>;
  report: ExportReport;
}

/** Tensors by Hugging Face name, as f32 views of `params` in the order transformers saves them (sorted by name). */
export function hfTensors(layout: ParamLayout, params: Float32Array): { name: string; shape: number[]; values: Float32Array }[] {
  const { hiddenSize: H, expertFfnSize: I, numExperts: E } = layout.config;
  // Mixtral's names, or Qwen2-MoE's (w1 = gate_proj, w3 = up_proj, w2 = down_proj).
  const mixtral = renormalizesTopK(layout.config);
  const moe = mixtral ? 'block_sparse_moe' : 'mlp';
  const [w1, w3, w2] = mixtral ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
  const zeros = new Float32Array(H);
  const view = (offset: number, size: number) => params.subarray(offset, offset + size);
  const out: { name: string; shape: number[]; values: Float32Array }[] = [];
  const add = (name: string, shape: number[], offset: number) =>
    out.push({
      name,
      shape,
      values: view(
        offset,
        shape.reduce((a, b) => a * b, 1),
      ),
    });
  add('model.embed_tokens.weight', layout.embed.shape, layout.embed.offset);
  layout.layers.forEach((t, l) => {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H], t.attnNorm.offset);
    add(`${p}.self_attn.q_proj.weight`, [H, H], t.qkv.offset);
    add(`${p}.self_attn.k_proj.weight`, [H, H], t.qkv.offset + H * H);
    add(`${p}.self_attn.v_proj.weight`, [H, H], t.qkv.offset + 2 * H * H);
    add(`${p}.self_attn.o_proj.weight`, [H, H], t.o.offset);
    if (!mixtral) for (const q of ['q', 'k', 'v']) out.push({ name: `${p}.self_attn.${q}_proj.bias`, shape: [H], values: zeros });
    add(`${p}.post_attention_layernorm.weight`, [H], t.moeNorm.offset);
    add(`${p}.${moe}.gate.weight`, [E, H], t.router.offset);
    for (let e = 0; e < E; e++) {
      const w13 = t.w13.offset + e * 2 * I * H;
      add(`${p}.${moe}.experts.${e}.${w1}.weight`, [I, H], w13);
      add(`${p}.${moe}.experts.${e}.${w3}.weight`, [I, H], w13 + I * H);
      add(`${p}.${moe}.experts.${e}.${w2}.weight`, [H, I], t.w2.offset + e * H * I);
    }
  });
  add('model.norm.weight', [H], layout.finalNorm.offset);
  add('lm_head.weight', layout.lmHead.shape, layout.lmHead.offset);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The inverse of hfTensors: flat parameters from a checkpoint of this layout, `read(name, shape)` giving each
 * tensor as f32 (the zero q/k/v biases of a Qwen2-MoE export are not parameters and are not read).
 */
export function importHfTensors(layout: ParamLayout, read: (name: string, shape: number[]) => Float32Array): Float32Array {
  const params = new Float32Array(layout.count);
  for (const t of hfTensors(layout, params)) if (t.values.buffer === params.buffer) t.values.set(read(t.name, t.shape));
  return params;
}

/** f16 unless some value is too large for it (then bf16, which has f32's range). */
export function chooseExportDtype(params: Float32Array): ExportReport {
  let maxAbs = 0;
  for (const v of params) maxAbs = Math.max(maxAbs, Math.abs(v));
  const dtype = maxAbs < F16_LIMIT ? 'f16' : 'bf16';
  let flushedToZero = 0;
  if (dtype === 'f16') for (const v of params) if (v !== 0 && Math.abs(v) < F16_ZERO) flushedToZero++;
  return { dtype, maxAbs, flushedToZero, tensors: 0 };
}

export function exportHfCheckpoint(layout: ParamLayout, params: Float32Array, routerAuxLossCoef: number): HfExport {
  const report = chooseExportDtype(params);
  const dtype: Dtype = report.dtype === 'f16' ? 'F16' : 'BF16';
  const tensors = hfTensors(layout, params).map((t) => ({ name: t.name, dtype, shape: t.shape, data: encodeWeights(t.values, report.dtype) }));
  report.tensors = tensors.length;
  return {
    safetensors: writeSafetensors(tensors, { format: 'pt' }),
    config: hfConfigJson(layout.config, report.dtype === 'f16' ? 'float16' : 'bfloat16', routerAuxLossCoef),
    report,
  };
}
