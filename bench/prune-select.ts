/**
 * Pruning benchmark (JSON on stdout): score + select + keep-mask of one Mixtral-8x7B expert matrix (w1 / w3:
 * 14336 x 4096, [I, H]) with seeded random normal weights, per dtype (f16 packed two per u32, f32) and method
 * (magnitude, wanda, moe-pruner: unstructured, one comparison group per row; 2:4 with wanda scores), in ms and GB/s
 * of weights (the matrix's bytes over the time: each radix pass re-reads W, a real GPU mostly from cache).
 * Reference on an H100: PyTorch's sort-based Wanda 2.64 ms, Dawn's buffer copy ~840 GB/s (bench/README.md).
 *
 * A matrix larger than the adapter's storage binding limit (f32 at this shape: 224 MiB, lavapipe binds 128 MiB)
 * is split by rows into parts in separate buffers: with row groups that changes no mask bit. Time is wall clock
 * from recording to queue.onSubmittedWorkDone after --warmup runs (pipelines compiled), median of --iters; the
 * Recorder encodes no timestamp queries, and at these sizes the submit overhead is far below the run time.
 * `cpuMs` is this process's CPU time over the same run (median): on a CPU driver (lavapipe) the shaders run on this
 * process's threads, so it measures the work even when other programs share the cores and wall time swings.
 *   scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/prune-select.ts
 *     [--rows 14336] [--cols 4096] [--dtypes f16,f32] [--methods magnitude,wanda,moe-pruner,2:4]
 *     [--sparsity 0.5] [--warmup 1] [--iters 3]
 */
import { parseArgs } from 'node:util';
import type { WeightDtype } from '../src/engine/model/spec.ts';
import { encodeWeights } from '../src/engine/prune/packing.ts';
import { columnFactors } from '../src/engine/prune/scores.ts';
import { parsePattern, UNSTRUCTURED, type MaskMethod, type PruneSettings } from '../src/engine/prune/settings.ts';
import { createRng } from '../src/engine/random.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { computeMasks, countKeptOnGpu, type GpuPruneMatrix } from '../src/gpu/prune/compute-masks.ts';
import { maskWords, WEIGHT_BYTES } from '../src/gpu/weights.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '14336' },
    cols: { type: 'string', default: '4096' },
    dtypes: { type: 'string', default: 'f16,f32' },
    methods: { type: 'string', default: 'magnitude,wanda,moe-pruner,2:4' },
    sparsity: { type: 'string', default: '0.5' },
    warmup: { type: 'string', default: '1' },
    iters: { type: 'string', default: '3' },
  },
});
const integer = (key: 'rows' | 'cols' | 'warmup' | 'iters', min: number) => {
  const value = Number(values[key]);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${key} must be an integer >= ${min} (got ${values[key]})`);
  return value;
};
const [rows, cols, warmup, iters] = [integer('rows', 1), integer('cols', 1), integer('warmup', 0), integer('iters', 1)];
const sparsity = Number(values.sparsity);
const dtypes = values.dtypes!.split(',') as WeightDtype[];
for (const d of dtypes) if (!(d in WEIGHT_BYTES)) throw new Error(`--dtypes: ${d} is not f32, f16 or bf16`);

/** A method name, or N:M (scored with wanda, as the Wanda paper's N:M results). */
function settingsFor(name: string): PruneSettings {
  if (name.includes(':')) return { method: 'wanda', pattern: parsePattern(name), group: 'row', sparsity: 0, seed: 0 };
  return { method: name as MaskMethod, pattern: UNSTRUCTURED, group: 'row', sparsity, seed: 0 };
}
const runs = values.methods!.split(',').map((name) => ({ name, settings: settingsFor(name) }));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const ctx = await createNodeGpuContext({ label: 'bench-prune' });
try {
  const rng = createRng(42);
  // W [rows, cols] ~ N(0, 1/cols) like a trained projection's scale; statistics ~ positive, some columns 0.
  const weights = Float32Array.from({ length: rows * cols }, () => rng.normal() / Math.sqrt(cols));
  const statistic = Float32Array.from({ length: cols }, () => (rng.next() < 0.02 ? 0 : rng.next() * 100));
  const factors = await ctx.upload('column factors', columnFactors(statistic, 'bench statistic'));
  const results = [];
  for (const dtype of dtypes) {
    const rowBytes = cols * WEIGHT_BYTES[dtype];
    const rowsPerPart = Math.max(1, Math.floor(ctx.caps.limits.maxStorageBufferBindingSize / rowBytes));
    const parts: GpuPruneMatrix[] = [];
    for (let first = 0; first < rows; first += rowsPerPart) {
      const partRows = Math.min(rowsPerPart, rows - first);
      const bytes = encodeWeights(weights.subarray(first * cols, (first + partRows) * cols), dtype);
      parts.push({
        label: `W[${first}:${first + partRows}] ${dtype}`,
        rows: partRows,
        cols,
        dtype,
        weights: await ctx.upload(`weights ${dtype} ${first}`, bytes),
        columnFactors: factors,
        randomStream: parts.length,
        mask: { buffer: ctx.createBuffer(`mask ${dtype} ${first}`, maskWords(partRows * cols) * 4) },
      });
    }
    for (const { name, settings } of runs) {
      const times: number[] = [];
      const cpuTimes: number[] = [];
      for (let i = 0; i < warmup + iters; i++) {
        const start = performance.now();
        const cpuStart = process.cpuUsage();
        await computeMasks(ctx, settings, parts);
        await ctx.idle();
        const cpu = process.cpuUsage(cpuStart);
        if (i >= warmup) {
          times.push(performance.now() - start);
          cpuTimes.push((cpu.user + cpu.system) / 1000);
        }
      }
      const slots = parts.map((p) => ({ buffer: p.mask!.buffer, wordOffset: 0, words: maskWords(p.rows * cols), elements: p.rows * cols, created: false }));
      const kept = (await countKeptOnGpu(ctx, slots)).reduce((a, b) => a + b, 0);
      const expectedKept =
        settings.pattern.kind === 'n:m' ? (rows * cols * settings.pattern.n) / settings.pattern.m : rows * (cols - Math.floor(cols * sparsity));
      const weightBytes = rows * cols * WEIGHT_BYTES[dtype];
      const ms = median(times);
      results.push({
        dtype,
        method: name,
        parts: parts.length,
        weightMiB: +(weightBytes / 2 ** 20).toFixed(1),
        ms: +ms.toFixed(2),
        msRuns: times.map((t) => +t.toFixed(2)),
        cpuMs: +median(cpuTimes).toFixed(1),
        gbPerSecond: +(weightBytes / (ms / 1000) / 1e9).toFixed(3),
        achievedSparsity: +(1 - kept / (rows * cols)).toFixed(6),
        keptAsExpected: kept === expectedKept,
      });
    }
    for (const p of parts) {
      p.weights.destroy();
      p.mask!.buffer.destroy();
    }
  }
  factors.destroy();
  console.log(
    JSON.stringify(
      {
        bench: 'prune-select',
        adapter: summarizeCapabilities(ctx.caps),
        shape: { rows, cols, what: 'Mixtral-8x7B expert w1/w3 [I, H]' },
        group: 'row',
        sparsity,
        warmup,
        iters,
        results,
        reference: { h100: 'PyTorch sort-based Wanda 2.64 ms; Dawn copy ~840 GB/s; target < 1 ms' },
      },
      null,
      2,
    ),
  );
} finally {
  ctx.destroy();
}
