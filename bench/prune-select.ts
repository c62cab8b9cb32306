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
 * It also counts Dawn's main thread, which polls the queue while it waits (about half of `cpuMs` at 1024 rows on
 * lavapipe, in proportion to wall time), so two more figures take the kernel's own time apart:
 * - `gpuMs`: the device's timestamps around the masks' commands (an empty compute pass with timestampWrites
 *   submitted just before them and one just after: the queue runs submits in order), median; null where the
 *   adapter has no 'timestamp-query'. On a CPU driver these are its queue thread's clock: the kernel's wall time.
 * - `workerCpuMs`: CPU time of this process's threads other than the main thread (Linux /proc/self/task/<tid>/
 *   schedstat), median; null elsewhere. On a CPU driver that is the shader's work, without the main thread's wait.
 *   scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/prune-select.ts
 *     [--rows 14336] [--cols 4096] [--dtypes f16,f32] [--methods magnitude,wanda,moe-pruner,2:4]
 *     [--sparsity 0.5] [--warmup 1] [--iters 3] [--row-words 2|4]
 * `--row-words` runs the unstructured selection's other register layout (ROW_SELECT_WORDS: 2 mask words per
 * invocation is a GPU's, 4 a CPU driver's; the device's by default); `rowWords` in the JSON says which ran.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { WeightDtype } from '../src/engine/model/spec.ts';
import { encodeWeights } from '../src/engine/prune/packing.ts';
import { columnFactors } from '../src/engine/prune/scores.ts';
import { parsePattern, UNSTRUCTURED, type MaskMethod, type PruneSettings } from '../src/engine/prune/settings.ts';
import { createRng } from '../src/engine/random.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { forDevice } from '../src/gpu/capabilities.ts';
import { ROW_SELECT_WORDS, type RowWords } from '../src/gpu/kernels/prune/row_select.ts';
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
    'row-words': { type: 'string' },
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
const rowWordsFlag = values['row-words'];
if (rowWordsFlag !== undefined && !Object.values(ROW_SELECT_WORDS).map(String).includes(rowWordsFlag)) {
  throw new Error(`--row-words must be one of ${Object.values(ROW_SELECT_WORDS).join(', ')} (got ${rowWordsFlag})`);
}
const runs = values.methods!.split(',').map((name) => ({ name, settings: settingsFor(name) }));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU ms of this process's threads other than the main one so far (Linux), or null where /proc has no tasks. */
function workerCpuMs(): number | null {
  const tasks = '/proc/self/task';
  if (!existsSync(tasks)) return null;
  let ns = 0;
  for (const tid of readdirSync(tasks)) {
    if (tid === String(process.pid)) continue;
    try {
      ns += Number(readFileSync(`${tasks}/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read: its time is gone from both ends of the difference.
    }
  }
  return ns / 1e6;
}

/**
 * Device timestamps around a batch of submits: `before()` and `after()` each submit an empty compute pass that
 * writes one timestamp; `ms()` (once the queue is idle) reads the difference.
 */
function deviceStamps(device: GPUDevice) {
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolved = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const stamp = (index: number) => {
    const encoder = device.createCommandEncoder();
    encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: index } }).end();
    if (index === 1) {
      encoder.resolveQuerySet(querySet, 0, 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, readback, 0, 16);
    }
    device.queue.submit([encoder.finish()]);
  };
  return {
    before: () => stamp(0),
    after: () => stamp(1),
    async ms(): Promise<number> {
      await readback.mapAsync(GPUMapMode.READ);
      const [start, end] = new BigUint64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      return Number(end - start) / 1e6;
    },
    destroy() {
      for (const b of [resolved, readback]) b.destroy();
      querySet.destroy();
    },
  };
}

const ctx = await createNodeGpuContext({ label: 'bench-prune' });
const rowWords = rowWordsFlag ? (Number(rowWordsFlag) as RowWords) : forDevice(ROW_SELECT_WORDS, ctx.caps.isSoftware);
try {
  const rng = createRng(42);
  // W [rows, cols] ~ N(0, 1/cols) like a trained projection's scale; statistics ~ positive, some columns 0.
  const weights = Float32Array.from({ length: rows * cols }, () => rng.normal() / Math.sqrt(cols));
  const statistic = Float32Array.from({ length: cols }, () => (rng.next() < 0.02 ? 0 : rng.next() * 100));
  const factors = await ctx.upload('column factors', columnFactors(statistic, 'bench statistic'));
  const stamps = ctx.caps.features.timestampQuery ? deviceStamps(ctx.device) : null;
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
      const gpuTimes: number[] = [];
      const workerTimes: number[] = [];
      for (let i = 0; i < warmup + iters; i++) {
        const start = performance.now();
        const cpuStart = process.cpuUsage();
        const workerStart = workerCpuMs();
        stamps?.before();
        await computeMasks(ctx, settings, parts, { rowWords });
        stamps?.after();
        await ctx.idle();
        const cpu = process.cpuUsage(cpuStart);
        const workerEnd = workerCpuMs();
        const wall = performance.now() - start;
        const gpu = await stamps?.ms();
        if (i >= warmup) {
          times.push(wall);
          cpuTimes.push((cpu.user + cpu.system) / 1000);
          if (gpu !== undefined) gpuTimes.push(gpu);
          if (workerStart !== null && workerEnd !== null) workerTimes.push(workerEnd - workerStart);
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
        gpuMs: gpuTimes.length ? +median(gpuTimes).toFixed(2) : null,
        workerCpuMs: workerTimes.length ? +median(workerTimes).toFixed(1) : null,
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
  stamps?.destroy();
  console.log(
    JSON.stringify(
      {
        bench: 'prune-select',
        adapter: summarizeCapabilities(ctx.caps),
        shape: { rows, cols, what: 'Mixtral-8x7B expert w1/w3 [I, H]' },
        group: 'row',
        sparsity,
        rowWords,
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
