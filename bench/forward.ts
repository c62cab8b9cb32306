/**
 * Forward-pass benchmark (JSON on stdout): tokens/s and achieved GFLOP/s of the WGSL forward (embedding, every
 * layer, LM head and per-token NLL, read back) for a model shaped like granite-3.0-1b-a400m (24 layers, hidden
 * 1024, 32 experts top-8, expert FFN 512, 16/8 heads, vocab 49155) with seeded random weights made in memory in
 * f16 (packed two per u32), at batch 4 x 512 tokens. Reference on an H100: transformers eager 17.8K tokens/s in
 * f32, 38.9K in bf16 (../shared/GPU.md). Time is wall clock around `forward.run` after warm-up runs (pipelines
 * compiled), median of --iters. Smaller runs for CPU drivers: --layers 1 --batch 1 --seq 128.
 *   scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/forward.ts [--layers 24]
 *     [--batch 4] [--seq 512] [--dtype f16|bf16|f32] [--warmup 1] [--iters 3]
 */
import { parseArgs } from 'node:util';
import { openCheckpoint } from '../src/engine/model/checkpoint.ts';
import { createRng } from '../src/engine/random.ts';
import { syntheticModelFolder } from '../src/engine/reference/synthetic.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { GpuForward } from '../src/gpu/model/forward.ts';
import { GpuModel } from '../src/gpu/model/gpu-model.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { forwardFlops } from './forward-flops.ts';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '24' },
    batch: { type: 'string', default: '4' },
    seq: { type: 'string', default: '512' },
    dtype: { type: 'string', default: 'f16' },
    warmup: { type: 'string', default: '1' },
    iters: { type: 'string', default: '3' },
  },
});
const count = (key: 'layers' | 'batch' | 'seq' | 'warmup' | 'iters', min: number) => {
  const value = Number(values[key]);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${key} must be an integer >= ${min} (got ${values[key]})`);
  return value;
};
const dtypes = { f16: 'F16', bf16: 'BF16', f32: 'F32' } as const;
const dtype = dtypes[values.dtype as keyof typeof dtypes];
if (!dtype) throw new Error(`--dtype must be f16, bf16 or f32 (got ${values.dtype})`);
const [layers, batch, seq, warmup, iters] = [count('layers', 1), count('batch', 1), count('seq', 2), count('warmup', 0), count('iters', 1)];

/** ibm-granite/granite-3.0-1b-a400m-base config.json, with the layer count from --layers. */
const graniteConfig = {
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

const ctx = await createNodeGpuContext({ label: 'bench-forward' });
try {
  const checkpoint = await openCheckpoint(syntheticModelFolder(graniteConfig, dtype, 1));
  const uploadStart = performance.now();
  const model = await GpuModel.upload(ctx, checkpoint);
  await ctx.idle();
  const uploadSeconds = (performance.now() - uploadStart) / 1000;
  const forward = new GpuForward(model, batch, seq);
  const rng = createRng(3);
  const ids = Uint32Array.from({ length: batch * seq }, () => rng.int(graniteConfig.vocab_size));
  let meanNll = NaN;
  const run = async () => {
    const start = performance.now();
    const { nll } = await forward.run({ ids, nll: true });
    const seconds = (performance.now() - start) / 1000;
    let sum = 0;
    let n = 0;
    for (const v of nll!) {
      if (Number.isNaN(v)) continue;
      sum += v;
      n++;
    }
    meanNll = sum / n;
    return seconds;
  };
  const warmupSeconds: number[] = [];
  for (let i = 0; i < warmup; i++) warmupSeconds.push(await run());
  const seconds: number[] = [];
  for (let i = 0; i < iters; i++) seconds.push(await run());
  const median = [...seconds].sort((a, b) => a - b)[Math.floor(seconds.length / 2)];
  const tokens = batch * seq;
  const flops = forwardFlops(model.spec, batch, seq);
  forward.destroy();
  model.destroy();
  const report = {
    benchmark: 'forward',
    model: 'granite-3.0-1b-a400m shape, random weights',
    layers,
    batch,
    seq,
    tokens,
    dtype: values.dtype,
    adapter: summarizeCapabilities(ctx.caps),
    weightBytes: model.bytes,
    uploadSeconds: Number(uploadSeconds.toFixed(3)),
    warmupSeconds: warmupSeconds.map((s) => Number(s.toFixed(4))),
    seconds: seconds.map((s) => Number(s.toFixed(4))),
    medianSeconds: Number(median.toFixed(4)),
    tokensPerSecond: Math.round(tokens / median),
    gflopPerToken: Number((flops.perToken / 1e9).toFixed(4)),
    achievedGflops: Number((flops.total / median / 1e9).toFixed(2)),
    flopShare: Object.fromEntries(Object.entries(flops.parts).map(([k, v]) => [k, Number((v / flops.total).toFixed(4))])),
    meanNll: Number(meanNll.toFixed(4)),
    reference: { note: 'transformers eager forward on an H100, 24 layers, 4 x 512 (../shared/GPU.md)', tokensPerSecondF32: 17800, tokensPerSecondBf16: 38900 },
  };
  console.log(JSON.stringify(report, null, 2));
} finally {
  ctx.destroy();
}
