/**
 * The pruning table of the final report: held-out perplexity of the dense model and of the pruning pipeline's
 * masks (src/gpu/prune/pipeline.ts, exactly what `moe-lab prune` exports) — magnitude, Wanda and MoE-Pruner at 50%
 * unstructured and 2:4 on the routed experts, and 2 of E experts dropped per layer by each criterion (frequency,
 * mean gate, REAP) with no weight pruning; optionally SparseGPT (--sparsegpt) and extra rows (--drop-and-prune).
 * One model upload, one calibration set (dense statistics measured once and reused, as `--stats` would), every
 * row on the same evaluation windows. JSON out; `--markdown` prints the table instead.
 * Text mode: calibration windows sampled from --calib-text (docs/calibration.md rule), evaluation on --eval-text
 * tokenized as `moe-lab ppl --text` does, non-overlapping windows of --ctx (default: the model's context).
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/prune-ppl.ts --model DIR
 *      --calib-text FILE --eval-text FILE [--samples 128] [--seq-len 256] [--seed 0] [--ctx N] [--max-tokens N]
 *      [--drop 2] [--mode dense|sequential] [--sparsegpt] [--markdown]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import { sampleWindows } from '../src/engine/calibration/sampling.ts';
import { openCheckpoint } from '../src/engine/model/checkpoint.ts';
import { pipelineSettings, type PipelineSettings } from '../src/engine/prune/pipeline-settings.ts';
import { parsePattern } from '../src/engine/prune/settings.ts';
import { loadTokenizer } from '../src/engine/tokenizer.ts';
import { calibrateOnGpu } from '../src/gpu/calibration/calibrate.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { evaluatePerplexity } from '../src/gpu/eval/perplexity.ts';
import { GpuModel } from '../src/gpu/model/gpu-model.ts';
import type { GpuMaskSet } from '../src/gpu/model/gpu-mask-set.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { prunePipeline } from '../src/gpu/prune/pipeline.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    'calib-text': { type: 'string' },
    'eval-text': { type: 'string' },
    samples: { type: 'string', default: '128' },
    'seq-len': { type: 'string' },
    seed: { type: 'string', default: '0' },
    ctx: { type: 'string' },
    'max-tokens': { type: 'string' },
    drop: { type: 'string', default: '2' },
    mode: { type: 'string', default: 'dense' },
    sparsegpt: { type: 'boolean' },
    'drop-and-prune': { type: 'boolean' },
    markdown: { type: 'boolean' },
  },
});
if (!values.model || !values['calib-text'] || !values['eval-text']) throw new Error('--model DIR, --calib-text FILE and --eval-text FILE are required');
const mode = values.mode as 'dense' | 'sequential';
const samples = Number(values.samples);
const seed = Number(values.seed);
const drop = Number(values.drop);
const maxTokens = values['max-tokens'] ? Number(values['max-tokens']) : undefined;

const checkpoint = await openCheckpoint(await directoryFolder(values.model));
const { spec } = checkpoint;
if (!checkpoint.tokenizerJson) throw new Error(`${values.model} has no tokenizer.json`);
const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig);
const seqLen = Number(values['seq-len'] ?? Math.min(512, spec.maxPositions));
const ctxLength = Number(values.ctx ?? Math.min(spec.maxPositions, 2048));
const windows = sampleWindows(tokenizer.encode(await readFile(values['calib-text'], 'utf8'), { addSpecialTokens: false }), { samples, seqLen, seed });
const evaluation = tokenizer.encode(await readFile(values['eval-text'], 'utf8'));

const rows: [string, Partial<PipelineSettings>][] = [];
for (const [pattern, name] of [
  ['unstructured', '50%'],
  ['2:4', '2:4'],
] as const) {
  for (const method of ['magnitude', 'wanda', 'moe-pruner'] as const)
    rows.push([`${method} ${name}`, { method, sparsity: 0.5, pattern: parsePattern(pattern) }]);
  if (values.sparsegpt) rows.push([`sparsegpt ${name}`, { method: 'sparsegpt', sparsity: 0.5, pattern: parsePattern(pattern) }]);
}
for (const criterion of ['frequency', 'gate', 'reap'] as const)
  rows.push([`drop ${drop}/${spec.numExperts} by ${criterion}`, { method: 'magnitude', sparsity: 0, expertsDrop: drop, expertCriterion: criterion }]);
if (values['drop-and-prune']) {
  for (const criterion of ['frequency', 'reap'] as const)
    rows.push([`drop ${drop} by ${criterion} + moe-pruner 50%`, { method: 'moe-pruner', sparsity: 0.5, expertsDrop: drop, expertCriterion: criterion }]);
}

interface Row {
  label: string;
  ppl: number;
  nll: number;
  /** Achieved sparsity over the routed experts' weights (dropped experts count as pruned). */
  sparsity: number;
  droppedExperts?: number[][];
  seconds: number;
}

const gpu = await createNodeGpuContext({ label: 'bench-prune-ppl' });
try {
  const model = await GpuModel.upload(gpu, checkpoint);
  const started = performance.now();
  const { stats } = await calibrateOnGpu(model, windows);
  const calibrationSeconds = (performance.now() - started) / 1000;
  const evaluate = (masks: GpuMaskSet | null) => evaluatePerplexity(model, evaluation, { ctx: ctxLength, maxTokens, masks });
  const dense = await evaluate(null);
  const results: Row[] = [{ label: 'dense', ppl: dense.ppl, nll: dense.nll, sparsity: 0, seconds: 0 }];
  for (const [label, patch] of rows) {
    const t0 = performance.now();
    const settings = pipelineSettings({ ...patch, mode });
    // Dense statistics reused (measured once above); sequential mode and SparseGPT measure their own.
    const run = await prunePipeline(model, settings, { windows, stats: mode === 'dense' ? stats : undefined });
    const seconds = (performance.now() - t0) / 1000;
    try {
      const report = await evaluate(run.masks);
      const dropped = run.report.layers.map((l) => l.droppedExperts);
      results.push({
        label,
        ppl: report.ppl,
        nll: report.nll,
        sparsity: run.report.achieved.overall.sparsity,
        ...(dropped.some((d) => d.length) ? { droppedExperts: dropped } : {}),
        seconds,
      });
    } finally {
      run.destroy();
    }
    console.error(`${label}: ppl ${results.at(-1)!.ppl.toFixed(3)}`);
  }
  if (values.markdown) {
    console.log(`| setting | achieved sparsity (experts) | held-out ppl |\n| --- | --- | --- |`);
    for (const r of results) console.log(`| ${r.label} | ${(100 * r.sparsity).toFixed(1)}% | ${r.ppl.toFixed(2)} |`);
  } else {
    console.log(
      JSON.stringify(
        {
          bench: 'prune-ppl',
          adapter: summarizeCapabilities(gpu.caps),
          model: values.model,
          calibration: { text: values['calib-text'], samples, seqLen, seed, tokens: stats.tokens, seconds: +calibrationSeconds.toFixed(2) },
          evaluation: { text: values['eval-text'], tokens: dense.tokens, ctx: ctxLength, windows: dense.windows },
          mode,
          results: results.map((r) => ({
            ...r,
            ppl: +r.ppl.toFixed(4),
            nll: +r.nll.toFixed(6),
            sparsity: +r.sparsity.toFixed(4),
            seconds: +r.seconds.toFixed(2),
          })),
        },
        null,
        2,
      ),
    );
  }
  model.destroy();
} finally {
  gpu.destroy();
}
