/**
 * Where each weight of a MoeModelSpec lives in a checkpoint, across the families' naming schemes:
 * - per-expert hub layout: `experts.{e}.w1|w3|w2` (Mixtral, PhiMoE) or `experts.{e}.gate_proj|up_proj|down_proj`
 *   (Qwen2/3-MoE, OLMoE), under `block_sparse_moe.` or `mlp.`;
 * - transformers 5 fused layout: `experts.gate_up_proj` [E, 2I, H] (gate rows first) + `experts.down_proj` [E, H, I];
 * - GraniteMoE: `input_linear.weight` [E, 2I, H] (gate rows first) + `output_linear.weight` [E, H, I].
 * - gpt_oss: `mlp.experts.gate_up_proj` [E, H, 2I] (x @ W, gate and up interleaved: gate = [..., 0::2], up =
 *   [..., 1::2]) + `down_proj` [E, I, H], with biases `gate_up_proj_bias` [E, 2I] (interleaved too) and
 *   `down_proj_bias` [E, H]; or, as the hub stores gpt-oss-20b/120b, the two matrices in MXFP4 (`*_blocks` +
 *   `*_scales`, see model/mxfp4.ts).
 * The engine's canonical layout is the fused one: per layer gate_up [E, 2I, H] and down [E, H, I], row-major
 * [out, in] as in nn.Linear.
 */
import { ModelFileError } from '../errors.ts';
import type { TensorInfo } from '../io/safetensors.ts';
import { attentionOutputWidth, type MoeModelSpec } from './spec.ts';

export interface LinearNames {
  weight: string;
  bias: string | null;
}

export interface NormNames {
  weight: string;
  bias: string | null;
}

export type ExpertNames =
  { layout: 'per-expert'; gate: string[]; up: string[]; down: string[] } | { layout: 'fused'; gateUp: string; down: string } | GptOssExpertNames;

/**
 * gpt_oss's experts (see the header). `gateUp` / `down` name the matrices, or with format 'mxfp4' the base name
 * whose `_blocks` and `_scales` tensors hold them (mxfp4Names).
 */
export interface GptOssExpertNames {
  layout: 'gpt-oss';
  format: 'dense' | 'mxfp4';
  gateUp: string;
  down: string;
  gateUpBias: string;
  downBias: string;
}

/** The stored tensors of gpt_oss's two expert matrices: the matrices, or their MXFP4 blocks and scales. */
export function gptOssMatrixTensors(n: GptOssExpertNames): string[] {
  return n.format === 'mxfp4' ? [n.gateUp, n.down].flatMap((base) => Object.values(mxfp4Names(base))) : [n.gateUp, n.down];
}

/** The MXFP4 tensors of a matrix stored under `base` (the hub's gpt-oss naming). */
export function mxfp4Names(base: string): { blocks: string; scales: string } {
  return { blocks: `${base}_blocks`, scales: `${base}_scales` };
}

export interface FfnNames {
  gate: string;
  up: string;
  down: string;
}

/**
 * Multi-head latent attention's projections (spec.mla): q_a_proj [rq, H] (+bias), q_a_layernorm [rq], q_b_proj
 * [Hq*D, rq] when q_lora_rank is set (else the layer's `q` is q_proj [Hq*D, H]); kv_a_proj_with_mqa [r + dr, H]
 * (+bias), kv_a_layernorm [r], kv_b_proj [Hq*(dn + dv), r]. D = dn + dr.
 */
export interface MlaNames {
  qA: LinearNames | null;
  qANorm: string | null;
  qB: string | null;
  kvA: LinearNames;
  kvANorm: string;
  kvB: string;
}

export interface LayerNames {
  inputNorm: NormNames;
  postAttentionNorm: NormNames;
  /** q_proj; null under MLA with a q LoRA. */
  q: LinearNames | null;
  /** k_proj and v_proj; null under MLA. */
  k: LinearNames | null;
  v: LinearNames | null;
  /** o_proj: [H, Hq*D], or [H, Hq*dv] under MLA. */
  o: LinearNames;
  mla: MlaNames | null;
  qNorm: string | null;
  kNorm: string | null;
  /** MoE layers: router [E, H] and experts; dense layers: `dense` instead. */
  router: string | null;
  experts: ExpertNames | null;
  shared: FfnNames | null;
  /** Qwen2-MoE's shared_expert_gate [1, H]. */
  sharedGate: string | null;
  /** DeepSeek-V3 / GLM-4.5 router's e_score_correction_bias [E] (selection only). */
  correctionBias: string | null;
  /** gpt_oss: the router's bias [E] (added to the logits) and the attention sinks [Hq]. */
  routerBias: string | null;
  sinks: string | null;
  dense: FfnNames | null;
}

export interface WeightNames {
  embedding: string;
  finalNorm: NormNames;
  lmHead: LinearNames | null; // null when tied to the embedding
  layers: LayerNames[];
}

/**
 * Tensor names as the loader found them; checks every expected tensor exists and has the spec's shape. `file`
 * names the checkpoint in "missing" errors (model.safetensors, or the shard index); `fileOfTensor` names the file
 * that holds a tensor in shape and dtype errors (its shard).
 */
export function resolveWeightNames(
  spec: MoeModelSpec,
  tensors: ReadonlyMap<string, TensorInfo>,
  file: string,
  fileOfTensor: (name: string) => string = () => file,
): WeightNames {
  const has = (name: string) => tensors.has(name);
  const need = (name: string, what: string): string => {
    if (!has(name)) throw new ModelFileError(file, 'missing-tensor', `missing tensor ${name} (${what})`);
    return name;
  };
  const firstOf = (candidates: string[], what: string): string => {
    const found = candidates.find(has);
    if (!found) throw new ModelFileError(file, 'missing-tensor', `missing tensor ${candidates[0]} (${what})`);
    return found;
  };
  const optional = (name: string): string | null => (has(name) ? name : null);
  const normNames = (prefix: string, what: string): NormNames => ({
    weight: need(`${prefix}.weight`, what),
    bias: spec.norm.bias ? need(`${prefix}.bias`, `${what} bias`) : null,
  });
  const linear = (prefix: string, bias: boolean, what: string): LinearNames => ({
    weight: need(`${prefix}.weight`, what),
    bias: bias ? need(`${prefix}.bias`, `${what} bias`) : null,
  });

  const layers: LayerNames[] = [];
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const mla = spec.mla;
    const qLora = mla !== null && mla.qLoraRank !== null;
    const layer: LayerNames = {
      inputNorm: normNames(`${p}.input_layernorm`, `layer ${l} input norm`),
      postAttentionNorm: normNames(`${p}.post_attention_layernorm`, `layer ${l} post-attention norm`),
      // MLA's q_proj (no q LoRA) has no bias (DeepseekV2/V3Attention); attention_bias covers q_a, kv_a and o.
      q: qLora ? null : linear(`${a}.q_proj`, spec.qkvBias && !mla, `layer ${l} q projection`),
      k: mla ? null : linear(`${a}.k_proj`, spec.qkvBias, `layer ${l} k projection`),
      v: mla ? null : linear(`${a}.v_proj`, spec.qkvBias, `layer ${l} v projection`),
      o: linear(`${a}.o_proj`, spec.oBias, `layer ${l} o projection`),
      mla: mla
        ? {
            qA: qLora ? linear(`${a}.q_a_proj`, spec.qkvBias, `layer ${l} q LoRA down projection`) : null,
            qANorm: qLora ? need(`${a}.q_a_layernorm.weight`, `layer ${l} q LoRA norm`) : null,
            qB: qLora ? need(`${a}.q_b_proj.weight`, `layer ${l} q LoRA up projection`) : null,
            kvA: linear(`${a}.kv_a_proj_with_mqa`, spec.qkvBias, `layer ${l} kv latent projection`),
            kvANorm: need(`${a}.kv_a_layernorm.weight`, `layer ${l} kv latent norm`),
            kvB: need(`${a}.kv_b_proj.weight`, `layer ${l} kv up projection`),
          }
        : null,
      qNorm: spec.qkNorm === 'none' ? null : need(`${a}.q_norm.weight`, `layer ${l} q norm`),
      kNorm: spec.qkNorm === 'none' ? null : need(`${a}.k_norm.weight`, `layer ${l} k norm`),
      router: null,
      experts: null,
      shared: null,
      sharedGate: null,
      correctionBias: null,
      routerBias: null,
      sinks: spec.attentionSinks ? need(`${a}.sinks`, `layer ${l} attention sinks`) : null,
      dense: null,
    };
    if (!spec.moeLayers[l]) {
      layer.dense = {
        gate: need(`${p}.mlp.gate_proj.weight`, `layer ${l} MLP`),
        up: need(`${p}.mlp.up_proj.weight`, `layer ${l} MLP`),
        down: need(`${p}.mlp.down_proj.weight`, `layer ${l} MLP`),
      };
      layers.push(layer);
      continue;
    }
    if (spec.architecture === 'granitemoe') {
      const m = `${p}.block_sparse_moe`;
      layer.router = need(`${m}.router.layer.weight`, `layer ${l} router`);
      layer.experts = {
        layout: 'fused',
        gateUp: need(`${m}.input_linear.weight`, `layer ${l} experts`),
        down: need(`${m}.output_linear.weight`, `layer ${l} experts`),
      };
    } else if (spec.architecture === 'gpt_oss') {
      const m = `${p}.mlp`;
      layer.router = need(`${m}.router.weight`, `layer ${l} router`);
      layer.routerBias = need(`${m}.router.bias`, `layer ${l} router bias`);
      const gateUp = `${m}.experts.gate_up_proj`;
      const down = `${m}.experts.down_proj`;
      const mxfp4 = has(mxfp4Names(gateUp).blocks);
      if (mxfp4) for (const base of [gateUp, down]) for (const n of Object.values(mxfp4Names(base))) need(n, `layer ${l} MXFP4 experts`);
      else for (const n of [gateUp, down]) need(n, `layer ${l} experts`);
      layer.experts = {
        layout: 'gpt-oss',
        format: mxfp4 ? 'mxfp4' : 'dense',
        gateUp,
        down,
        gateUpBias: need(`${gateUp}_bias`, `layer ${l} expert biases`),
        downBias: need(`${down}_bias`, `layer ${l} expert biases`),
      };
    } else {
      const m = [`${p}.block_sparse_moe`, `${p}.mlp`].find((prefix) => has(`${prefix}.gate.weight`)) ?? `${p}.mlp`;
      layer.router = need(`${m}.gate.weight`, `layer ${l} router`);
      if (spec.routing.kind === 'grouped-topk' && spec.routing.correctionBias) {
        layer.correctionBias = need(`${m}.gate.e_score_correction_bias`, `layer ${l} router correction bias`);
      }
      const fusedGateUp = optional(`${m}.experts.gate_up_proj`) ?? optional(`${m}.experts.gate_up_proj.weight`);
      if (fusedGateUp) {
        layer.experts = {
          layout: 'fused',
          gateUp: fusedGateUp,
          down: firstOf([`${m}.experts.down_proj`, `${m}.experts.down_proj.weight`], `layer ${l} experts`),
        };
      } else {
        const mixtralNames = has(`${m}.experts.0.w1.weight`);
        const [g, u, d] = mixtralNames ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
        const expert = (e: number, proj: string) => need(`${m}.experts.${e}.${proj}.weight`, `layer ${l} expert ${e}`);
        const range = Array.from({ length: spec.numExperts }, (_, e) => e);
        layer.experts = {
          layout: 'per-expert',
          gate: range.map((e) => expert(e, g)),
          up: range.map((e) => expert(e, u)),
          down: range.map((e) => expert(e, d)),
        };
      }
      if (spec.sharedExpert) {
        // Qwen2-MoE: `shared_expert`; DeepSeek and GLM-4.5: `shared_experts` (n_shared_experts fused into one MLP).
        const s = has(`${m}.shared_experts.gate_proj.weight`) ? `${m}.shared_experts` : `${m}.shared_expert`;
        layer.shared = {
          gate: need(`${s}.gate_proj.weight`, `layer ${l} shared expert`),
          up: need(`${s}.up_proj.weight`, `layer ${l} shared expert`),
          down: need(`${s}.down_proj.weight`, `layer ${l} shared expert`),
        };
        layer.sharedGate = spec.sharedExpert.gated ? need(`${m}.shared_expert_gate.weight`, `layer ${l} shared expert gate`) : null;
      }
    }
    layers.push(layer);
  }

  const names: WeightNames = {
    embedding: need('model.embed_tokens.weight', 'token embeddings'),
    finalNorm: normNames('model.norm', 'final norm'),
    lmHead: spec.tiedEmbeddings ? null : linear('lm_head', spec.lmHeadBias, 'LM head'),
    layers,
  };
  checkShapes(spec, names, tensors, fileOfTensor);
  return names;
}

/** The shape every tensor must have under `spec` (so a wrong config or checkpoint is caught before any compute). */
function checkShapes(spec: MoeModelSpec, names: WeightNames, tensors: ReadonlyMap<string, TensorInfo>, fileOf: (name: string) => string): void {
  const { hiddenSize: H, vocabSize: V, headDim: D, numHeads, numKvHeads, numExperts: E, expertFfnSize: I } = spec;
  const expect = (name: string | null, shape: number[]) => {
    if (!name) return;
    const info = tensors.get(name)!;
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFileError(fileOf(name), 'shape-mismatch', `tensor ${name} has shape [${info.shape.slice(0, 8)}], config.json implies [${shape}]`);
    }
    if (info.dtype === 'I32' || info.dtype === 'I64' || info.dtype === 'U8') {
      throw new ModelFileError(fileOf(name), 'bad-dtype', `tensor ${name} is ${info.dtype}; weights must be F32, F16 or BF16`);
    }
  };
  /** MXFP4 blocks [..., C/32, 16] and scales [..., C/32] of a matrix [R, C] per expert (stored transposed: R outputs). */
  const expectMxfp4 = (base: string, R: number, C: number) => {
    const { blocks, scales } = mxfp4Names(base);
    for (const [name, shape] of [
      [blocks, [E, R, C / 32, 16]],
      [scales, [E, R, C / 32]],
    ] as const) {
      const info = tensors.get(name)!;
      if (C % 32 || info.dtype !== 'U8' || info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new ModelFileError(
          fileOf(name),
          'shape-mismatch',
          `MXFP4 tensor ${name} is ${info.dtype} [${info.shape.slice(0, 8)}], config.json implies U8 [${shape}]`,
        );
      }
    }
  };
  const norm = (n: NormNames, width: number) => {
    expect(n.weight, [width]);
    expect(n.bias, [width]);
  };
  expect(names.embedding, [V, H]);
  norm(names.finalNorm, H);
  if (names.lmHead) {
    expect(names.lmHead.weight, [V, H]);
    expect(names.lmHead.bias, [V]);
  }
  names.layers.forEach((layer) => {
    norm(layer.inputNorm, H);
    norm(layer.postAttentionNorm, H);
    expect(layer.q?.weight ?? null, [numHeads * D, H]);
    expect(layer.k?.weight ?? null, [numKvHeads * D, H]);
    expect(layer.v?.weight ?? null, [numKvHeads * D, H]);
    expect(layer.o.weight, [H, attentionOutputWidth(spec)]);
    expect(layer.q?.bias ?? null, [numHeads * D]);
    expect(layer.k?.bias ?? null, [numKvHeads * D]);
    expect(layer.v?.bias ?? null, [numKvHeads * D]);
    expect(layer.o.bias, [H]);
    if (layer.mla && spec.mla) {
      const { qLoraRank, kvLoraRank: r, qkRopeDim: dr, qkNopeDim: dn, vDim: dv } = spec.mla;
      expect(layer.mla.qA?.weight ?? null, [qLoraRank ?? 0, H]);
      expect(layer.mla.qA?.bias ?? null, [qLoraRank ?? 0]);
      expect(layer.mla.qANorm, [qLoraRank ?? 0]);
      expect(layer.mla.qB, [numHeads * D, qLoraRank ?? 0]);
      expect(layer.mla.kvA.weight, [r + dr, H]);
      expect(layer.mla.kvA.bias, [r + dr]);
      expect(layer.mla.kvANorm, [r]);
      expect(layer.mla.kvB, [numHeads * (dn + dv), r]);
    }
    expect(layer.correctionBias, [E]);
    const perHead = spec.qkNorm === 'per-head';
    expect(layer.qNorm, [perHead ? D : numHeads * D]);
    expect(layer.kNorm, [perHead ? D : numKvHeads * D]);
    expect(layer.router, [E, H]);
    expect(layer.sinks, [numHeads]);
    expect(layer.routerBias, [E]);
    if (layer.experts?.layout === 'gpt-oss') {
      if (layer.experts.format === 'mxfp4') {
        expectMxfp4(layer.experts.gateUp, 2 * I, H);
        expectMxfp4(layer.experts.down, H, I);
      } else {
        expect(layer.experts.gateUp, [E, H, 2 * I]);
        expect(layer.experts.down, [E, I, H]);
      }
      expect(layer.experts.gateUpBias, [E, 2 * I]);
      expect(layer.experts.downBias, [E, H]);
    } else if (layer.experts?.layout === 'fused') {
      expect(layer.experts.gateUp, [E, 2 * I, H]);
      expect(layer.experts.down, [E, H, I]);
    } else if (layer.experts) {
      layer.experts.gate.forEach((n) => expect(n, [I, H]));
      layer.experts.up.forEach((n) => expect(n, [I, H]));
      layer.experts.down.forEach((n) => expect(n, [H, I]));
    }
    if (layer.shared && spec.sharedExpert) {
      const S = spec.sharedExpert.ffnSize;
      expect(layer.shared.gate, [S, H]);
      expect(layer.shared.up, [S, H]);
      expect(layer.shared.down, [H, S]);
      expect(layer.sharedGate, [1, H]);
    }
    if (layer.dense) {
      expect(layer.dense.gate, [spec.denseFfnSize, H]);
      expect(layer.dense.up, [spec.denseFfnSize, H]);
      expect(layer.dense.down, [H, spec.denseFfnSize]);
    }
  });
}
