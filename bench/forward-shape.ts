/**
 * Model shapes and flags shared by bench/forward.ts and bench/forward-profile.ts: a config.json for
 * syntheticModelFolder (seeded random weights through the real upload path).
 *   --shape default   the shipped default model (BROWN_MOE_3M_RECIPE, Mixtral layout): its layers, hidden size (heads of 32),
 *                     experts, top-k, expert FFN, vocab and context, untied head; --hidden scales the FFN with it
 *                     (--hidden 128 of the 8-expert brown-moe-3m gives the earlier brown-moe-4m shape, FFN 256);
 *                     --experts E, --topk K and --ffn I override the recipe's (to compare with a tree whose
 *                     default model had another expert layout: brown-moe-3m is --experts 8 --topk 2 --ffn 192)
 *   --shape granite   granite-3.0-1b-a400m: 24 layers, hidden 1024, 32 experts top-8, FFN 512, 16/8 heads,
 *                     vocab 49155, tied embeddings
 * --matrix-kernels subgroup|tile: the forward's matrix kernels (GpuContextOptions.matrixKernels; subgroup where the
 * device allows, the default) or the workgroup-tile fallback everywhere.
 * --layers overrides the layer count of either; --batch / --seq default to 8 x 256 (default) and 4 x 512 (granite).
 */
import { parseArgs } from 'node:util';
import { BROWN_MOE_3M_RECIPE } from '../src/engine/train/recipe.ts';
import type { MatrixKernels } from '../src/gpu/context.ts';

export type BenchDtype = 'F16' | 'BF16' | 'F32';

export interface ForwardBenchShape {
  name: string;
  config: Record<string, unknown>;
  dtype: BenchDtype;
  layers: number;
  batch: number;
  seq: number;
  warmup: number;
  iters: number;
  matrixKernels: MatrixKernels;
}

function defaultConfig(hidden: number, layers: number, moe: { experts: number; topK: number; ffn: number }): Record<string, unknown> {
  const m = BROWN_MOE_3M_RECIPE.model;
  return {
    architectures: ['MixtralForCausalLM'],
    model_type: 'mixtral',
    hidden_size: hidden,
    intermediate_size: moe.ffn,
    num_hidden_layers: layers,
    num_attention_heads: hidden / 32,
    num_key_value_heads: hidden / 32,
    num_local_experts: moe.experts,
    num_experts_per_tok: moe.topK,
    vocab_size: m.vocabSize,
    max_position_embeddings: m.contextLength,
    rms_norm_eps: m.rmsNormEps,
    rope_theta: m.ropeTheta,
    tie_word_embeddings: false,
  };
}

/** ibm-granite/granite-3.0-1b-a400m-base config.json, with the layer count given. */
function graniteConfig(layers: number): Record<string, unknown> {
  return {
    architectures: ['GraniteMoeForCausalLM'],
    model_type: 'granitemoe',
    hidden_size: 1024,
    intermediate_size: 512,
    num_hidden_layers: layers,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    num_local_experts: 32,
    num_experts_per_tok: 8,
    vocab_size: 49155,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    attention_multiplier: 0.015625,
    embedding_multiplier: 12.0,
    residual_multiplier: 0.22,
    logits_scaling: 6.0,
    tie_word_embeddings: true,
    attention_bias: false,
  };
}

/** Parses the shared flags (plus `extra` string flags the caller reads itself). */
export function forwardBenchShape(extra: string[] = []): { shape: ForwardBenchShape; extra: Record<string, string | undefined> } {
  const { values } = parseArgs({
    options: {
      shape: { type: 'string', default: 'granite' },
      hidden: { type: 'string' },
      layers: { type: 'string' },
      batch: { type: 'string' },
      seq: { type: 'string' },
      dtype: { type: 'string', default: 'f16' },
      warmup: { type: 'string', default: '1' },
      iters: { type: 'string', default: '3' },
      experts: { type: 'string' },
      topk: { type: 'string' },
      ffn: { type: 'string' },
      'matrix-kernels': { type: 'string', default: 'subgroup' },
      ...Object.fromEntries(extra.map((name) => [name, { type: 'string' as const }])),
    },
  });
  const v = values as Record<string, string | undefined>;
  const count = (key: string, fallback: number, min: number) => {
    const value = v[key] === undefined ? fallback : Number(v[key]);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${key} must be an integer >= ${min} (got ${v[key]})`);
    return value;
  };
  const dtypes = { f16: 'F16', bf16: 'BF16', f32: 'F32' } as const;
  const dtype = dtypes[v.dtype as keyof typeof dtypes];
  if (!dtype) throw new Error(`--dtype must be f16, bf16 or f32 (got ${v.dtype})`);
  const matrixKernels = v['matrix-kernels'];
  if (matrixKernels !== 'subgroup' && matrixKernels !== 'tile') throw new Error(`--matrix-kernels must be subgroup or tile (got ${matrixKernels})`);
  const granite = v.shape === 'granite';
  if (!granite && v.shape !== 'default') throw new Error(`--shape must be default or granite (got ${v.shape})`);
  const layers = count('layers', granite ? 24 : BROWN_MOE_3M_RECIPE.model.numLayers, 1);
  const hidden = count('hidden', BROWN_MOE_3M_RECIPE.model.hiddenSize, 32);
  if (!granite && hidden % 32 !== 0) throw new Error(`--hidden must be a multiple of 32 (heads of 32; got ${hidden})`);
  const m = BROWN_MOE_3M_RECIPE.model;
  const experts = count('experts', m.numExperts, 1);
  const moe = { experts, topK: count('topk', m.topK, 1), ffn: count('ffn', Math.round((hidden * m.expertFfnSize) / m.hiddenSize), 1) };
  if (moe.topK > experts) throw new Error(`--topk must be at most --experts (${experts}; got ${moe.topK})`);
  const shape: ForwardBenchShape = {
    name: granite
      ? 'granite-3.0-1b-a400m shape, random weights'
      : `default-model shape (hidden ${hidden}, ${moe.experts} experts top-${moe.topK}, FFN ${moe.ffn}), random weights`,
    config: granite ? graniteConfig(layers) : defaultConfig(hidden, layers, moe),
    dtype,
    layers,
    batch: count('batch', granite ? 4 : 8, 1),
    seq: count('seq', granite ? 512 : BROWN_MOE_3M_RECIPE.model.contextLength, 2),
    warmup: count('warmup', 1, 0),
    iters: count('iters', 3, 1),
    matrixKernels,
  };
  return { shape, extra: Object.fromEntries(extra.map((name) => [name, v[name]])) };
}

/** CPU seconds (user + system, all threads: on lavapipe the shaders run on this process's threads) since `from`. */
export function cpuSecondsSince(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
}
