/**
 * Neuron pruning (structure neurons; docs/pruning.md, "Neuron pruning") against bytes, and the forward's speed:
 * for each score (moe-pruner, wanda, magnitude, random) and each sparsity (default 25% and 50%) the pipeline's masks,
 * their held-out perplexity on the dense model (`ppl --masks`), the exported folder written to disk (writePrunedExport,
 * what `moe-lab prune --structure neurons --out` writes), reloaded with its smaller I' and evaluated on the same
 * windows (must equal the masked number), its model.safetensors size on disk and the report's accounting. Then the
 * lab's forward (GpuForward: embedding, every layer, LM head, per-token NLL read back — what `ppl` runs per batch)
 * timed on the dense model, on the dense model under the masks, and on each pruned export: tokens/s, median of
 * --iters after --warmup runs, wall clock and this process's CPU time. One calibration set, measured once.
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/structured.ts
 *      [--model public/models/brown-moe-3m] [--calib-text build/corpus/brown/train.txt]
 *      [--eval-text public/data/brown/heldout.txt] [--samples 64] [--seq-len 128] [--max-tokens 16384]
 *      [--sparsities 0.25,0.5] [--batch 8] [--seq 256] [--warmup 1] [--iters 5] [--speed-only]
 * --speed-only: the random score only (no calibration), no perplexities: the forward timings alone.
 */
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { folderWriter } from '../src/cli/commands/prune.ts';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import { sampleWindows } from '../src/engine/calibration/sampling.ts';
import { writePrunedExport } from '../src/engine/export/pruned-export.ts';
import { openCheckpoint } from '../src/engine/model/checkpoint.ts';
import { NEURON_METHODS } from '../src/engine/prune/neurons.ts';
import { pipelineSettings } from '../src/engine/prune/pipeline-settings.ts';
import type { PruneAccounting } from '../src/engine/prune/accounting.ts';
import { createRng } from '../src/engine/random.ts';
import { loadTokenizer } from '../src/engine/tokenizer.ts';
import { calibrateOnGpu } from '../src/gpu/calibration/calibrate.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { evaluatePerplexity } from '../src/gpu/eval/perplexity.ts';
import { GpuForward } from '../src/gpu/model/forward.ts';
import type { GpuMaskSet } from '../src/gpu/model/gpu-mask-set.ts';
import { GpuModel } from '../src/gpu/model/gpu-model.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { prunePipeline } from '../src/gpu/prune/pipeline.ts';
import { cpuSecondsSince } from './forward-shape.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/brown-moe-3m' },
    'calib-text': { type: 'string', default: 'build/corpus/brown/train.txt' },
    'eval-text': { type: 'string', default: 'public/data/brown/heldout.txt' },
    samples: { type: 'string', default: '64' },
    'seq-len': { type: 'string', default: '128' },
    'max-tokens': { type: 'string', default: '16384' },
    sparsities: { type: 'string', default: '0.25,0.5' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '256' },
    warmup: { type: 'string', default: '1' },
    iters: { type: 'string', default: '5' },
    'speed-only': { type: 'boolean' },
  },
});
const sparsities = values.sparsities.split(',').map(Number);
const batch = Number(values.batch);
const seq = Number(values.seq);
const maxTokens = Number(values['max-tokens']);
const speedOnly = values['speed-only'] === true;

const checkpoint = await openCheckpoint(await directoryFolder(values.model));
const { spec } = checkpoint;
if (!checkpoint.tokenizerJson) throw new Error(`${values.model} has no tokenizer.json`);
const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig);
const windows = sampleWindows(tokenizer.encode(await readFile(values['calib-text'], 'utf8'), { addSpecialTokens: false }), {
  samples: Number(values.samples),
  seqLen: Number(values['seq-len']),
  seed: 0,
});
const evaluation = tokenizer.encode(await readFile(values['eval-text'], 'utf8'));
const ctxLength = Math.min(spec.maxPositions, seq);
const safetensorsBytes = async (dir: string) => (await stat(join(dir, 'model.safetensors'))).size;

const gpu = await createNodeGpuContext({ label: 'bench-structured' });
const work = await mkdtemp(join(tmpdir(), 'moe-lab-structured-'));

/** A forward of `model` (masks optional) on fixed random ids, ready to time. */
function forwardOf(model: GpuModel, masks: GpuMaskSet | null) {
  const forward = new GpuForward(model, batch, seq);
  const rng = createRng(3);
  const ids = Uint32Array.from({ length: batch * seq }, () => rng.int(model.spec.vocabSize));
  return { run: () => forward.run({ ids, nll: true, masks }), destroy: () => forward.destroy() };
}

/**
 * Tokens/s of each configuration: --warmup runs each, then --iters rounds that run every configuration once in turn
 * (so a change in the machine's load hits all of them alike); medians of wall clock and of this process's CPU time
 * (on a CPU driver the CPU time measures the work even when other programs share the cores).
 */
async function speeds(configs: Map<string, { run: () => Promise<unknown> }>) {
  const wall = new Map([...configs.keys()].map((k) => [k, [] as number[]]));
  const cpu = new Map([...configs.keys()].map((k) => [k, [] as number[]]));
  for (const c of configs.values()) for (let i = 0; i < Number(values.warmup); i++) await c.run();
  for (let i = 0; i < Number(values.iters); i++) {
    for (const [name, c] of configs) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      await c.run();
      wall.get(name)!.push((performance.now() - start) / 1000);
      cpu.get(name)!.push(cpuSecondsSince(cpuStart));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const dense = median(cpu.get('dense')!);
  return Object.fromEntries(
    [...configs.keys()].map((name) => [
      name,
      {
        tokensPerSecond: Math.round((batch * seq) / median(wall.get(name)!)),
        wallSeconds: +median(wall.get(name)!).toFixed(4),
        cpuSeconds: +median(cpu.get(name)!).toFixed(4),
        cpuSpeedup: +(dense / median(cpu.get(name)!)).toFixed(3),
      },
    ]),
  );
}

interface Row {
  method: string;
  sparsity: number;
  keptFfn: number;
  pplMasks: number;
  pplExport: number;
  exportEqualsMasks: boolean;
  modelSafetensorsBytes: number;
  accounting: PruneAccounting;
}

try {
  const model = await GpuModel.upload(gpu, checkpoint);
  const stats = speedOnly ? null : (await calibrateOnGpu(model, windows)).stats;
  const evaluate = (m: GpuModel, masks: GpuMaskSet | null) => evaluatePerplexity(m, evaluation, { ctx: ctxLength, maxTokens, masks });
  const dense = speedOnly ? null : await evaluate(model, null);
  const denseBytes = await safetensorsBytes(values.model);
  const rows: Row[] = [];
  // Timed at the end, round-robin: the dense model, and per sparsity the masks on it and the smaller export.
  const timed = new Map([['dense', forwardOf(model, null)]]);
  const keep: { destroy(): void }[] = [];
  for (const sparsity of sparsities) {
    for (const method of speedOnly ? (['random'] as const) : NEURON_METHODS) {
      const run = await prunePipeline(model, pipelineSettings({ method, sparsity, structure: 'neurons' }), { windows, stats: stats ?? undefined });
      const out = join(work, `${method}-${sparsity}`);
      await mkdir(out, { recursive: true });
      await writePrunedExport(
        { checkpoint, masks: await run.readMaskSet() },
        run.report,
        { name: values.model, architecture: spec.architecture },
        folderWriter(out),
      );
      const exported = await GpuModel.upload(gpu, await openCheckpoint(await directoryFolder(out)));
      const timedHere = method === (speedOnly ? 'random' : 'moe-pruner');
      try {
        const masked = speedOnly ? null : await evaluate(model, run.masks);
        const reloaded = speedOnly ? null : await evaluate(exported, null);
        rows.push({
          method,
          sparsity,
          keptFfn: exported.spec.expertFfnSize,
          pplMasks: masked ? +masked.ppl.toFixed(4) : NaN,
          pplExport: reloaded ? +reloaded.ppl.toFixed(4) : NaN,
          exportEqualsMasks: masked?.nll === reloaded?.nll,
          modelSafetensorsBytes: await safetensorsBytes(out),
          accounting: run.report.accounting!,
        });
        if (timedHere) {
          timed.set(`masks ${sparsity}`, forwardOf(model, run.masks));
          timed.set(`neurons ${sparsity} (export, I' = ${exported.spec.expertFfnSize})`, forwardOf(exported, null));
        }
      } finally {
        if (timedHere) keep.push(run, exported);
        else {
          exported.destroy();
          run.destroy();
        }
      }
      console.error(`${method} ${sparsity}: ppl ${rows.at(-1)!.pplMasks} (export ${rows.at(-1)!.pplExport}), ${rows.at(-1)!.modelSafetensorsBytes} bytes`);
    }
  }
  const forward = await speeds(timed);
  for (const t of timed.values()) t.destroy();
  for (const k of keep) k.destroy();
  console.log(
    JSON.stringify(
      {
        bench: 'structured',
        adapter: summarizeCapabilities(gpu.caps),
        model: values.model,
        expertFfn: spec.expertFfnSize,
        calibration: { text: values['calib-text'], samples: Number(values.samples), seqLen: Number(values['seq-len']), tokens: stats?.tokens ?? 0 },
        evaluation: { text: values['eval-text'], tokens: dense?.tokens ?? 0, ctx: ctxLength, windows: dense?.windows ?? 0 },
        dense: { ppl: dense ? +dense.ppl.toFixed(4) : NaN, modelSafetensorsBytes: denseBytes },
        rows,
        forward: { batch, seq, iters: Number(values.iters), ...forward },
      },
      null,
      2,
    ),
  );
} finally {
  await rm(work, { recursive: true, force: true });
  gpu.destroy();
}
