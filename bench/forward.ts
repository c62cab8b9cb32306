/**
 * Forward-pass benchmark (JSON on stdout): tokens/s and achieved GFLOP/s of the WGSL forward (embedding, every
 * layer, LM head and per-token NLL, read back: what `moe-lab ppl` runs per batch) with seeded random weights made
 * in memory in f16 (packed two per u32). Shapes (bench/forward-shape.ts): `--shape granite` (default here;
 * granite-3.0-1b-a400m, 24 layers, batch 4 x 512; reference on an H100: transformers eager 17.8K tokens/s in f32,
 * 38.9K in bf16, measured with PyTorch outside this repository) or `--shape default` (the shipped default model, batch 8 x 256). Time is wall
 * clock and this process's CPU time around `forward.run` after warm-up runs (pipelines compiled), median of
 * --iters; on a CPU driver the CPU time measures the work even when other programs share the cores.
 *   scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/forward.ts [--shape granite|default]
 *     [--layers N] [--hidden N] [--experts E] [--topk K] [--ffn I] [--batch B] [--seq S] [--dtype f16|bf16|f32]
 *     [--warmup 1] [--iters 3] [--matrix-kernels subgroup|tile]
 */
import { openCheckpoint } from '../src/engine/model/checkpoint.ts';
import { createRng } from '../src/engine/random.ts';
import { syntheticModelFolder } from '../src/engine/io/synthetic-folder.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { GpuForward } from '../src/gpu/model/forward.ts';
import { GpuModel } from '../src/gpu/model/gpu-model.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { forwardFlops } from './forward-flops.ts';
import { cpuSecondsSince, forwardBenchShape } from './forward-shape.ts';

const { shape } = forwardBenchShape();
const { layers, batch, seq, warmup, iters, dtype } = shape;

const ctx = await createNodeGpuContext({ label: 'bench-forward', matrixKernels: shape.matrixKernels });
try {
  const checkpoint = await openCheckpoint(syntheticModelFolder(shape.config, dtype, 1));
  const uploadStart = performance.now();
  const model = await GpuModel.upload(ctx, checkpoint);
  await ctx.idle();
  const uploadSeconds = (performance.now() - uploadStart) / 1000;
  const forward = new GpuForward(model, batch, seq);
  const rng = createRng(3);
  const ids = Uint32Array.from({ length: batch * seq }, () => rng.int(model.spec.vocabSize));
  let meanNll = NaN;
  const cpu: number[] = [];
  const run = async () => {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const { nll } = await forward.run({ ids, nll: true });
    const seconds = (performance.now() - start) / 1000;
    cpu.push(cpuSecondsSince(cpuStart));
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
  const cpuSeconds = cpu.slice(warmup);
  const cpuMedian = [...cpuSeconds].sort((a, b) => a - b)[Math.floor(cpuSeconds.length / 2)];
  const tokens = batch * seq;
  const flops = forwardFlops(model.spec, batch, seq);
  forward.destroy();
  model.destroy();
  const report = {
    benchmark: 'forward',
    model: shape.name,
    layers,
    batch,
    seq,
    tokens,
    dtype: dtype.toLowerCase(),
    adapter: summarizeCapabilities(ctx.caps),
    matrixKernels: ctx.matrix,
    weightBytes: model.bytes,
    uploadSeconds: Number(uploadSeconds.toFixed(3)),
    warmupSeconds: warmupSeconds.map((s) => Number(s.toFixed(4))),
    seconds: seconds.map((s) => Number(s.toFixed(4))),
    medianSeconds: Number(median.toFixed(4)),
    cpuSeconds: cpuSeconds.map((s) => Number(s.toFixed(3))),
    medianCpuSeconds: Number(cpuMedian.toFixed(3)),
    tokensPerSecond: Math.round(tokens / median),
    tokensPerCpuSecond: Math.round(tokens / cpuMedian),
    cpuMicrosecondsPerToken: Number(((cpuMedian / tokens) * 1e6).toFixed(1)),
    gflopPerToken: Number((flops.perToken / 1e9).toFixed(4)),
    achievedGflops: Number((flops.total / median / 1e9).toFixed(2)),
    gflopPerCpuSecond: Number((flops.total / cpuMedian / 1e9).toFixed(2)),
    flopShare: Object.fromEntries(Object.entries(flops.parts).map(([k, v]) => [k, Number((v / flops.total).toFixed(4))])),
    meanNll: Number(meanNll.toFixed(4)),
    reference: {
      note: 'transformers eager forward on an H100, 24 layers, 4 x 512 (PyTorch, measured outside this repository)',
      tokensPerSecondF32: 17800,
      tokensPerSecondBf16: 38900,
    },
  };
  console.log(JSON.stringify(report, null, 2));
} finally {
  ctx.destroy();
}
