/**
 * Where a training step's time goes: runs the forward and backward with every dispatch submitted and awaited on
 * its own, and prints seconds per kernel (JSON). Slower than a real step (no overlap), but the split is what counts.
 *   scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/train-profile.ts [same flags as bench/train.ts]
 */
import { createRng } from '../src/engine/random.ts';
import { paramLayout } from '../src/engine/train/config.ts';
import { initialParameters } from '../src/engine/train/init.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import type { DispatchOptions, Recorder } from '../src/gpu/recorder.ts';
import type { Kernel } from '../src/gpu/kernel.ts';
import { recordTrainBackward } from '../src/gpu/train/backward.ts';
import { recordTrainForward } from '../src/gpu/train/forward.ts';
import { GpuTrainer } from '../src/gpu/train/trainer.ts';
import { benchShapeFromArgs } from './train-shape.ts';

const { config, windows } = benchShapeFromArgs();
const layout = paramLayout(config);
const T = windows * config.contextLength;
const ctx = await createNodeGpuContext({ label: 'bench-train-profile' });
const trainer = new GpuTrainer(ctx, layout, windows, 0.01, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 1 });
await trainer.setParameters(initialParameters(layout, 1));
const rng = createRng(2);
const ids = Uint32Array.from({ length: T }, () => rng.int(config.vocabSize));
await trainer.computeGradients(ids, ids); // warm-up: compiles every pipeline
await ctx.idle();

const seconds = new Map<string, number>();
const queue: (() => Promise<void>)[] = [];
/** A Recorder stand-in that submits each dispatch alone and charges its wall time to the kernel (and matmul shape). */
const timing = {
  dispatch(kernel: Kernel, options: DispatchOptions) {
    queue.push(async () => {
      const rec = ctx.record();
      rec.dispatch(kernel, options);
      const p = options.params as Record<string, number> | undefined;
      const key = kernel.name.startsWith('train/matmul') && p ? `${kernel.name} ${p.M}x${p.N}x${p.K}` : kernel.name;
      const start = performance.now();
      await rec.submit();
      await ctx.idle();
      seconds.set(key, (seconds.get(key) ?? 0) + (performance.now() - start) / 1000);
    });
    return timing;
  },
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number) {
    queue.push(async () => {
      const rec = ctx.record();
      rec.copy(src, srcOffset, dst, dstOffset, size);
      await rec.submit();
    });
    return timing;
  },
  clear(buffer: GPUBuffer, offset?: number, size?: number) {
    queue.push(async () => {
      const rec = ctx.record();
      rec.clear(buffer, offset, size);
      await rec.submit();
    });
    return timing;
  },
} as unknown as Recorder;

recordTrainForward(timing, trainer.buffers, { gradient: true, lossSlot: 0 });
const forwardSteps = queue.length;
recordTrainBackward(timing, trainer.buffers, 0.01);
let forward = 0;
let total = 0;
for (let i = 0; i < queue.length; i++) {
  const start = performance.now();
  await queue[i]();
  const s = (performance.now() - start) / 1000;
  total += s;
  if (i < forwardSteps) forward += s;
}
const rows = [...seconds].sort((a, b) => b[1] - a[1]).map(([kernel, s]) => ({ kernel, seconds: +s.toFixed(3), share: +(s / total).toFixed(3) }));
console.log(JSON.stringify({ tokens: T, forwardSeconds: +forward.toFixed(2), totalSeconds: +total.toFixed(2), kernels: rows }, null, 2));
trainer.destroy();
ctx.destroy();
