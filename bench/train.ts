/**
 * Training-step benchmark (JSON on stdout): tokens/s and model GFLOP/s of the WGSL trainer for a Mixtral shape,
 * on random tokens, after a warm-up step (pipelines compiled). Also times the forward alone and forward + backward,
 * to show where a step goes. Matmul FLOPs counted as 6 x active matmul parameters x tokens plus the attention
 * products (causal: half of S^2 per head), the usual accounting (Kaplan et al. 2020).
 *   scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/train.ts \
 *     [--hidden 192] [--layers 4] [--heads 6] [--experts 8] [--top-k 2] [--ffn 384] [--vocab 4096] [--context 256]
 *     [--windows 8] [--steps 3]
 */
import { createRng } from '../src/engine/random.ts';
import { parameterCounts, paramLayout } from '../src/engine/train/config.ts';
import { initialParameters } from '../src/engine/train/init.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { GpuTrainer } from '../src/gpu/train/trainer.ts';
import { benchShapeFromArgs } from './train-shape.ts';

const { config, windows, steps } = benchShapeFromArgs();
const layout = paramLayout(config);
const counts = parameterCounts(config);
const T = windows * config.contextLength;
const { hiddenSize: H, numLayers: L, vocabSize: V } = config;
// Active matmul parameters per token (embedding gather excluded), and the attention products per token.
const activeMatmul = counts.active - V * H - (2 * L + 1) * H;
const attentionPerToken = L * 2 * 2 * H * (config.contextLength / 2);
const flopsPerStep = 3 * T * (2 * activeMatmul + attentionPerToken);

const ctx = await createNodeGpuContext({ label: 'bench-train' });
const trainer = new GpuTrainer(ctx, layout, windows, 0.01, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 1 });
await trainer.setParameters(initialParameters(layout, 1));
const rng = createRng(2);
const batch = () => ({
  ids: Uint32Array.from({ length: T }, () => rng.int(V)),
  targets: Uint32Array.from({ length: T }, () => rng.int(V)),
});

/** Wall seconds and CPU seconds (all threads of this process: Dawn and the driver's) per call. On a shared CPU
 * driver the CPU seconds are the steadier measure of the kernels' cost. */
let cpuSeconds = 0;
async function timed(what: () => Promise<void>, repeat: number): Promise<number> {
  await what();
  await ctx.idle();
  const start = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < repeat; i++) await what();
  await ctx.idle();
  const used = process.cpuUsage(cpu);
  cpuSeconds = (used.user + used.system) / 1e6 / repeat;
  return (performance.now() - start) / 1000 / repeat;
}

const b = batch();
const forward = await timed(async () => void (await trainer.evaluate([b])), steps);
const gradients = await timed(() => trainer.computeGradients(b.ids, b.targets), steps);
const step = await timed(() => trainer.trainStep(b.ids, b.targets, 1e-3), steps);
const stepCpuSeconds = cpuSeconds;
const logs = await trainer.readLogs();
console.log(
  JSON.stringify(
    {
      device: ctx.caps.description || ctx.caps.device,
      config,
      windows,
      tokensPerStep: T,
      parameters: counts,
      seconds: { forward: +forward.toFixed(3), forwardBackward: +gradients.toFixed(3), step: +step.toFixed(3) },
      stepCpuSeconds: +stepCpuSeconds.toFixed(3),
      tokensPerSecond: Math.round(T / step),
      tokensPerCpuSecond: Math.round(T / stepCpuSeconds),
      gflopsPerStep: +(flopsPerStep / 1e9).toFixed(2),
      gflopsPerSecond: +(flopsPerStep / step / 1e9).toFixed(2),
      gflopsPerCpuSecond: +(flopsPerStep / stepCpuSeconds / 1e9).toFixed(2),
      lastLoss: logs.at(-1)?.loss,
    },
    null,
    2,
  ),
);
trainer.destroy();
ctx.destroy();
