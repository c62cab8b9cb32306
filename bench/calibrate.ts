/**
 * Cost of calibration (src/gpu/calibration) against a plain forward over the same tokens, JSON out.
 * Model: shaped like granite-3.0-1b-a400m (24 layers, hidden 1024, 32 experts top-8, expert FFN 512, 16/8 heads,
 * vocab 49155), random weights made on demand (syntheticModelFolder), packed f16 — --layers keeps it small enough
 * for a CPU Vulkan driver. Tokens: --samples windows of --seq-len seeded random ids, --batch-tokens per pass.
 * Three timings of the same batches, after a warm-up batch of each (pipelines built), --repeat times,
 * interleaved so that a busy machine slows each of them alike; the report gives the fastest run of each, in wall
 * seconds and in this process's CPU seconds (on a CPU Vulkan driver the shaders run on this process's threads, so
 * CPU time measures the work even while other programs share the cores; on a GPU only wall time means anything):
 *   forward_nll     GpuForward.run with next-token NLL (what perplexity runs: layers + LM head + NLL)
 *   forward_layers  embedding + layers only, no LM head (the part of the forward calibration runs)
 *   calibrate       calibrateOnGpu, dense: the layers with every statistic recorded, plus the final readback
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/calibrate.ts [--layers 24]
 *      [--samples 128] [--seq-len 512] [--batch-tokens 2048] [--dtype F16|BF16|F32] [--repeat 3]
 */
import { parseArgs } from 'node:util';
import { openCheckpoint } from '../src/engine/model/checkpoint.ts';
import { createRng } from '../src/engine/random.ts';
import { syntheticModelFolder } from '../src/engine/io/synthetic-folder.ts';
import { calibrateOnGpu, windowsPerBatch } from '../src/gpu/calibration/calibrate.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { GpuForward } from '../src/gpu/model/forward.ts';
import { GpuModel } from '../src/gpu/model/gpu-model.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '24' },
    samples: { type: 'string', default: '128' },
    'seq-len': { type: 'string', default: '512' },
    'batch-tokens': { type: 'string', default: '2048' },
    dtype: { type: 'string', default: 'F16' },
    repeat: { type: 'string', default: '3' },
  },
});
const layers = Number(values.layers);
const samples = Number(values.samples);
const seqLen = Number(values['seq-len']);
const batchTokens = Number(values['batch-tokens']);
const dtype = values.dtype as 'F16' | 'BF16' | 'F32';
const repeat = Number(values.repeat);

const config = {
  architectures: ['GraniteMoeForCausalLM'],
  model_type: 'granitemoe',
  hidden_size: 1024,
  num_hidden_layers: layers,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  intermediate_size: 512,
  num_local_experts: 32,
  num_experts_per_tok: 8,
  vocab_size: 49155,
  max_position_embeddings: 4096,
  tie_word_embeddings: true,
  rms_norm_eps: 1e-6,
  embedding_multiplier: 12,
  residual_multiplier: 0.22,
  attention_multiplier: 0.015625,
  logits_scaling: 6,
};

const ctx = await createNodeGpuContext({ label: 'bench-calibrate' });
try {
  const checkpoint = await openCheckpoint(syntheticModelFolder(config, dtype, 1));
  const model = await GpuModel.upload(ctx, checkpoint);
  const rng = createRng(5);
  const windows = Array.from({ length: samples }, () => Array.from({ length: seqLen }, () => rng.int(config.vocab_size)));
  const perBatch = windowsPerBatch(model, samples, seqLen, batchTokens);
  const batches: number[][][] = [];
  for (let i = 0; i < samples; i += perBatch) batches.push(windows.slice(i, i + perBatch));
  const forwards = new Map<number, GpuForward>();
  const forwardOf = (n: number) => {
    if (!forwards.has(n)) forwards.set(n, new GpuForward(model, n, seqLen));
    return forwards.get(n)!;
  };

  const forwardNll = async (list: number[][][]) => {
    for (const batch of list) await forwardOf(batch.length).run({ ids: batch.flat(), nll: true });
  };
  const forwardLayers = async (list: number[][][]) => {
    for (const batch of list) {
      const forward = forwardOf(batch.length);
      forward.writeIds(batch.flat());
      const rec = ctx.record('forward layers');
      forward.recordEmbedding(rec);
      for (let l = 0; l < layers; l++) forward.recordLayer(rec, l);
      await rec.submit();
      await ctx.idle();
    }
  };
  const calibrate = async (list: number[][][]) => {
    await calibrateOnGpu(model, list.flat(), { tokensPerBatch: batchTokens });
  };
  const runs = { forward_nll: forwardNll, forward_layers: forwardLayers, calibrate };
  const all: Record<keyof typeof runs, number[]> = { forward_nll: [], forward_layers: [], calibrate: [] };
  const cpu: Record<keyof typeof runs, number[]> = { forward_nll: [], forward_layers: [], calibrate: [] };
  for (const run of Object.values(runs)) await run(batches.slice(0, 1)); // warm-up: pipelines, workspaces
  for (let r = 0; r < repeat; r++) {
    for (const [name, run] of Object.entries(runs) as [keyof typeof runs, (list: number[][][]) => Promise<void>][]) {
      const start = performance.now();
      const startCpu = process.cpuUsage();
      await run(batches);
      const used = process.cpuUsage(startCpu);
      all[name].push((performance.now() - start) / 1000);
      cpu[name].push((used.user + used.system) / 1e6);
    }
  }
  const fastest = (runs: Record<string, number[]>) =>
    Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, Math.min(...v)])) as Record<keyof typeof runs, number>;
  const seconds = fastest(all);
  const cpuSeconds = fastest(cpu);
  const tokens = samples * seqLen;
  console.log(
    JSON.stringify(
      {
        bench: 'calibrate',
        adapter: summarizeCapabilities(ctx.caps),
        model: { shape: 'granite-3.0-1b-a400m', layers, hidden: 1024, experts: 32, topK: 8, expertFfn: 512, vocab: 49155, dtype },
        samples,
        seqLen,
        tokens,
        windowsPerBatch: perBatch,
        batches: batches.length,
        seconds: Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, +v.toFixed(3)])),
        allRuns: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.map((x) => +x.toFixed(3))])),
        cpuSeconds: Object.fromEntries(Object.entries(cpuSeconds).map(([k, v]) => [k, +v.toFixed(3)])),
        allCpuRuns: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.map((x) => +x.toFixed(3))])),
        tokensPerSecond: Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Math.round(tokens / v)])),
        ratio: {
          calibrate_over_forward_nll: +(seconds.calibrate / seconds.forward_nll).toFixed(3),
          calibrate_over_forward_layers: +(seconds.calibrate / seconds.forward_layers).toFixed(3),
        },
        cpuRatio: {
          calibrate_over_forward_nll: +(cpuSeconds.calibrate / cpuSeconds.forward_nll).toFixed(3),
          calibrate_over_forward_layers: +(cpuSeconds.calibrate / cpuSeconds.forward_layers).toFixed(3),
        },
      },
      null,
      2,
    ),
  );
  for (const f of forwards.values()) f.destroy();
  model.destroy();
} finally {
  ctx.destroy();
}
