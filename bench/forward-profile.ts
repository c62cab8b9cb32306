/**
 * Where the inference forward's time goes (JSON): records one pass exactly as GpuForward.run does (embedding,
 * layers, final norm, LM head chunks with NLL), then submits every dispatch alone and waits for it
 * (queue.onSubmittedWorkDone), charging its wall and CPU time to the kernel (matrix kernels also per shape).
 * Slower than a real pass (no overlap), but the split is what counts. Same shape flags as bench/forward.ts, plus
 * `--repeat N` (2): the profile is taken N times after a warm-up pass and each kernel's fastest total reported.
 *   scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/forward-profile.ts --shape default
 */
import { openCheckpoint } from '../src/engine/model/checkpoint.ts';
import { createRng } from '../src/engine/random.ts';
import { syntheticModelFolder } from '../src/engine/io/synthetic-folder.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import type { Kernel } from '../src/gpu/kernel.ts';
import { GpuForward } from '../src/gpu/model/forward.ts';
import { GpuModel } from '../src/gpu/model/gpu-model.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import type { DispatchOptions, Recorder } from '../src/gpu/recorder.ts';
import { forwardFlops } from './forward-flops.ts';
import { cpuSecondsSince, forwardBenchShape } from './forward-shape.ts';

const { shape, extra } = forwardBenchShape(['repeat']);
const repeat = Number(extra.repeat ?? 2);
const ctx = await createNodeGpuContext({ label: 'bench-forward-profile', matrixKernels: shape.matrixKernels });
const model = await GpuModel.upload(ctx, await openCheckpoint(syntheticModelFolder(shape.config, shape.dtype, 1)));
const forward = new GpuForward(model, shape.batch, shape.seq);
const T = forward.tokens;
const rng = createRng(3);
const ids = Uint32Array.from({ length: T }, () => rng.int(model.spec.vocabSize));
await forward.run({ ids, nll: true }); // warm-up: compiles every pipeline
forward.writeIds(ids);

/** Kernel name, with the matrix shape for the matrix kernels (their cost depends on it). */
function key(kernel: Kernel, options: DispatchOptions): string {
  const p = (options.params ?? {}) as Record<string, number>;
  if (kernel.name.startsWith('nn/matmul')) return `${kernel.name} ${p.rows}x${p.cols}x${p.inner}${options.label === 'lm head' ? ' (lm head)' : ''}`;
  if (kernel.name.startsWith('moe/expert')) return `${kernel.name} H${p.hidden} I${p.inter_size}`;
  return kernel.name;
}

/** One pass's dispatches, in order, as thunks that run one alone. */
function recordPass(): { key: string; run: () => Promise<void> }[] {
  const steps: { key: string; run: () => Promise<void> }[] = [];
  const timing = {
    // The hosts pick their matrix kernels from the recorder, as from a real one.
    matrixKernels: ctx.matrixKernels,
    subgroupStep: ctx.matrix.step,
    subgroupAttention: ctx.matrix.attention,
    attentionTileKeys: ctx.matrix.attentionTileKeys,
    dispatch(kernel: Kernel, options: DispatchOptions) {
      steps.push({
        key: key(kernel, options),
        run: async () => {
          const rec = ctx.record();
          rec.dispatch(kernel, options);
          await rec.submit();
          await ctx.idle();
        },
      });
      return timing;
    },
    clear(buffer: GPUBuffer, offset = 0, size?: number) {
      steps.push({
        key: 'clear (buffer)',
        run: async () => {
          await ctx.record().clear(buffer, offset, size).submit();
          await ctx.idle();
        },
      });
      return timing;
    },
  } as unknown as Recorder;
  forward.recordEmbedding(timing);
  for (let l = 0; l < model.spec.numLayers; l++) forward.recordLayer(timing, l);
  forward.recordFinalNorm(timing);
  for (let first = 0; first < T; first += forward.ws.logitRows) forward.recordHeadChunk(timing, first, Math.min(forward.ws.logitRows, T - first), true);
  return steps;
}

const best = new Map<string, { wall: number; cpu: number; calls: number }>();
let bestTotal = { wall: Infinity, cpu: Infinity };
for (let r = 0; r < repeat; r++) {
  const totals = new Map<string, { wall: number; cpu: number; calls: number }>();
  let wall = 0;
  let cpu = 0;
  for (const step of recordPass()) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    await step.run();
    const s = { wall: (performance.now() - start) / 1000, cpu: cpuSecondsSince(cpuStart) };
    const t = totals.get(step.key) ?? { wall: 0, cpu: 0, calls: 0 };
    totals.set(step.key, { wall: t.wall + s.wall, cpu: t.cpu + s.cpu, calls: t.calls + 1 });
    wall += s.wall;
    cpu += s.cpu;
  }
  for (const [k, t] of totals) {
    const b = best.get(k);
    if (!b || t.cpu < b.cpu) best.set(k, t);
  }
  if (cpu < bestTotal.cpu) bestTotal = { wall, cpu };
}
const cpuSum = [...best.values()].reduce((a, b) => a + b.cpu, 0);
const flops = forwardFlops(model.spec, shape.batch, shape.seq);
console.log(
  JSON.stringify(
    {
      benchmark: 'forward-profile',
      model: shape.name,
      layers: shape.layers,
      batch: shape.batch,
      seq: shape.seq,
      tokens: T,
      dtype: shape.dtype.toLowerCase(),
      adapter: summarizeCapabilities(ctx.caps),
      fastestPass: { wallSeconds: +bestTotal.wall.toFixed(3), cpuSeconds: +bestTotal.cpu.toFixed(3) },
      cpuMicrosecondsPerToken: +((bestTotal.cpu / T) * 1e6).toFixed(1),
      gflopPerCpuSecond: +(flops.total / bestTotal.cpu / 1e9).toFixed(2),
      kernels: [...best]
        .sort((a, b) => b[1].cpu - a[1].cpu)
        .map(([kernel, t]) => ({
          kernel,
          calls: t.calls,
          cpuSeconds: +t.cpu.toFixed(3),
          wallSeconds: +t.wall.toFixed(3),
          cpuShare: +(t.cpu / cpuSum).toFixed(3),
        })),
    },
    null,
    2,
  ),
);
forward.destroy();
model.destroy();
ctx.destroy();
