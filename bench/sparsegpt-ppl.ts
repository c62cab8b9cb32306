/**
 * Held-out perplexity of SparseGPT beside magnitude, Wanda and MoE-Pruner (the comparison of MoE-Pruner's paper),
 * JSON out: the dense model, then every method at 50% unstructured and at 2:4 on the routed (and shared) experts,
 * all from the same calibration set and calibration mode, all on the GPU:
 *   magnitude / wanda / moe-pruner   calibrateOnGpu statistics -> computeMasks (row groups) per MoE layer
 *   sparsegpt                        sparseGptOnModel (Hessians, factors, OBS updates; masks + updated weights)
 * Text mode (a model with tokenizer.json): calibration windows sampled from --calib-text (sampling.ts rule),
 * evaluation on --eval-text in non-overlapping windows of --ctx. Without a tokenizer (test models, fixtures),
 * --random-ids uses seeded random ids for both (numbers that only show the pipeline runs).
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/sparsegpt-ppl.ts --model DIR
 *      (--calib-text FILE --eval-text FILE | --random-ids) [--samples 128] [--seq-len 256] [--seed 0]
 *      [--ctx 256] [--max-tokens N] [--mode dense|sequential] [--blocksize 128] [--damp 0.01]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import { sampleWindows } from '../src/engine/calibration/sampling.ts';
import type { LayerStats } from '../src/engine/calibration/stats.ts';
import { openCheckpoint, type Checkpoint } from '../src/engine/model/checkpoint.ts';
import { countKept, type LayerMasks, type MaskSet, type MatrixKey } from '../src/engine/model/mask-set.ts';
import { columnFactors } from '../src/engine/prune/scores.ts';
import { UNSTRUCTURED, type MaskMethod, type PrunePattern } from '../src/engine/prune/settings.ts';
import { createRng } from '../src/engine/random.ts';
import { loadTokenizer } from '../src/engine/tokenizer.ts';
import { calibrateOnGpu } from '../src/gpu/calibration/calibrate.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { evaluatePerplexity } from '../src/gpu/eval/perplexity.ts';
import { GpuModel } from '../src/gpu/model/gpu-model.ts';
import { maskedMatrix, uploadMasks, type GpuMaskSet } from '../src/gpu/model/gpu-mask-set.ts';
import type { GpuMatrix } from '../src/gpu/model/tensor-upload.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { computeMasks, readMask, type GpuPruneMatrix } from '../src/gpu/prune/compute-masks.ts';
import { sparseGptOnModel } from '../src/gpu/sparsegpt/run.ts';
import { maskWords } from '../src/gpu/weights.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    'calib-text': { type: 'string' },
    'eval-text': { type: 'string' },
    'random-ids': { type: 'boolean' },
    samples: { type: 'string', default: '128' },
    'seq-len': { type: 'string', default: '256' },
    seed: { type: 'string', default: '0' },
    ctx: { type: 'string', default: '256' },
    'max-tokens': { type: 'string' },
    mode: { type: 'string', default: 'dense' },
    blocksize: { type: 'string', default: '128' },
    damp: { type: 'string', default: '0.01' },
  },
});
if (!values.model) throw new Error('--model DIR is required');
const mode = values.mode as 'dense' | 'sequential';
const [samples, seqLen, seed, ctxLength, blockSize, damp] = ['samples', 'seq-len', 'seed', 'ctx', 'blocksize', 'damp'].map((k) =>
  Number(values[k as keyof typeof values]),
);
const maxTokens = values['max-tokens'] ? Number(values['max-tokens']) : undefined;

async function tokenStreams(checkpoint: Checkpoint): Promise<{ calibration: number[][]; evaluation: number[] }> {
  const V = checkpoint.spec.vocabSize;
  if (values['random-ids']) {
    const rng = createRng(seed);
    return {
      calibration: Array.from({ length: samples }, () => Array.from({ length: seqLen }, () => rng.int(V))),
      evaluation: Array.from({ length: maxTokens ?? 4 * ctxLength }, () => rng.int(V)),
    };
  }
  if (!checkpoint.tokenizerJson || !values['calib-text'] || !values['eval-text'])
    throw new Error('text mode needs the model tokenizer, --calib-text and --eval-text (or give --random-ids)');
  const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig);
  const calibrationTokens = tokenizer.encode(await readFile(values['calib-text'], 'utf8'), { addSpecialTokens: false });
  return {
    calibration: sampleWindows(calibrationTokens, { samples, seqLen, seed }),
    evaluation: tokenizer.encode(await readFile(values['eval-text'], 'utf8')),
  };
}

/** The expert matrices a baseline prunes in layer l: per canonical key, its matrices and their statistics. */
function expertTargets(model: GpuModel, l: number, stats: LayerStats, gated: boolean) {
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = model.spec;
  const layer = model.layers[l];
  const pick = (s: { inputSqNorm: Float32Array; inputSqNormGated: Float32Array; interSqNorm: Float32Array; interSqNormGated: Float32Array }, input: boolean) =>
    input ? (gated ? s.inputSqNormGated : s.inputSqNorm) : gated ? s.interSqNormGated : s.interSqNorm;
  const targets: { key: MatrixKey; matrix: GpuMatrix; parts: { rows: number; cols: number; offset: number; statistic: Float32Array }[] }[] = [
    {
      key: 'experts.gate_up',
      matrix: layer.experts!.gateUp,
      parts: Array.from({ length: 2 * E }, (_, z) => ({ rows: I, cols: H, offset: z * I * H, statistic: pick(stats.experts[z >> 1], true) })),
    },
    {
      key: 'experts.down',
      matrix: layer.experts!.down,
      parts: Array.from({ length: E }, (_, e) => ({ rows: H, cols: I, offset: e * H * I, statistic: pick(stats.experts[e], false) })),
    },
  ];
  if (layer.shared && stats.shared) {
    const S = layer.shared.width;
    targets.push(
      {
        key: 'shared.gate_up',
        matrix: layer.shared.gateUp,
        parts: [0, 1].map((z) => ({ rows: S, cols: H, offset: z * S * H, statistic: pick(stats.shared!, true) })),
      },
      { key: 'shared.down', matrix: layer.shared.down, parts: [{ rows: H, cols: S, offset: 0, statistic: pick(stats.shared, false) }] },
    );
  }
  return targets;
}

/** Masks of one MoE layer for a score-based method, on the GPU (prune engine), read back. */
async function baselineLayerMasks(model: GpuModel, l: number, stats: LayerStats, method: MaskMethod, pattern: PrunePattern): Promise<LayerMasks> {
  const ctx = model.ctx;
  const out: LayerMasks = { matrices: {} };
  for (const t of expertTargets(model, l, stats, method === 'moe-pruner')) {
    const mask = ctx.createBuffer(`mask ${t.matrix.name}`, maskWords(t.matrix.elements) * 4);
    const created: GPUBuffer[] = [mask];
    const matrices: GpuPruneMatrix[] = [];
    for (const [i, p] of t.parts.entries()) {
      if (p.offset % 32) throw new Error(`${t.matrix.name}: matrix ${i} starts mid-word; this comparison needs rows x cols % 32 == 0`);
      const factors = await ctx.upload(`factors ${t.matrix.name} ${i}`, columnFactors(p.statistic, `${t.matrix.name} statistic`));
      created.push(factors);
      matrices.push({
        label: `layers.${l}.${t.key}.${i}`,
        rows: p.rows,
        cols: p.cols,
        weights: t.matrix.buffer,
        weightOffset: p.offset,
        dtype: t.matrix.dtype,
        columnFactors: factors,
        mask: { buffer: mask, wordOffset: p.offset / 32 },
      });
    }
    const [slot] = await computeMasks(ctx, { method, pattern, group: 'row', sparsity: pattern.kind === 'n:m' ? 0 : 0.5, seed: 0 }, matrices);
    out.matrices[t.key] = await readMask(ctx, { ...slot, wordOffset: 0, words: maskWords(t.matrix.elements), elements: t.matrix.elements });
    for (const b of created) b.destroy();
  }
  return out;
}

/** Pruned fraction over every masked matrix of a MaskSet. */
function sparsityOf(model: GpuModel, masks: MaskSet): number {
  let kept = 0;
  let total = 0;
  masks.layers.forEach((layer, l) => {
    for (const [key, bits] of Object.entries(layer?.matrices ?? {}) as [MatrixKey, Uint32Array][]) {
      const elements = maskedMatrix(model, l, key)!.elements;
      kept += countKept(bits, elements);
      total += elements;
    }
  });
  return total ? 1 - kept / total : 0;
}

const gpu = await createNodeGpuContext({ label: 'bench-sparsegpt-ppl' });
try {
  const checkpoint = await openCheckpoint(await directoryFolder(values.model));
  const { calibration, evaluation } = await tokenStreams(checkpoint);
  const model = await GpuModel.upload(gpu, checkpoint);
  const evaluate = async (masks: GpuMaskSet | null) => (await evaluatePerplexity(model, evaluation, { ctx: ctxLength, maxTokens, masks })).ppl;
  const results: Record<string, { ppl: number; sparsity: number; seconds: number }> = {};
  results.dense = { ppl: await evaluate(null), sparsity: 0, seconds: 0 };
  const patterns: [string, PrunePattern][] = [
    ['50%', UNSTRUCTURED],
    ['2:4', { kind: 'n:m', n: 2, m: 4 }],
  ];
  for (const [patternName, pattern] of patterns) {
    for (const method of ['magnitude', 'wanda', 'moe-pruner'] as MaskMethod[]) {
      const start = performance.now();
      let maskSet: MaskSet;
      if (mode === 'sequential') {
        maskSet = (await calibrateOnGpu(model, calibration, { mode, masksForLayer: (l, stats) => baselineLayerMasks(model, l, stats, method, pattern) })).masks;
      } else {
        const { stats } = await calibrateOnGpu(model, calibration, { mode });
        maskSet = { layers: [] };
        for (const [l, layerStats] of stats.layers.entries())
          maskSet.layers.push(layerStats ? await baselineLayerMasks(model, l, layerStats, method, pattern) : null);
      }
      const seconds = (performance.now() - start) / 1000;
      const uploaded = await uploadMasks(model, maskSet);
      results[`${method} ${patternName}`] = { ppl: await evaluate(uploaded), sparsity: sparsityOf(model, maskSet), seconds: +seconds.toFixed(2) };
      uploaded.destroy();
    }
    const start = performance.now();
    const sparsegpt = await sparseGptOnModel(model, calibration, { settings: { sparsity: 0.5, pattern, blockSize, damp }, mode });
    const seconds = (performance.now() - start) / 1000;
    results[`sparsegpt ${patternName}`] = {
      ppl: await evaluate(sparsegpt.masks),
      sparsity: sparsityOf(model, await sparsegpt.readMaskSet()),
      seconds: +seconds.toFixed(2),
    };
    sparsegpt.destroy();
  }
  console.log(
    JSON.stringify(
      {
        bench: 'sparsegpt-ppl',
        adapter: summarizeCapabilities(gpu.caps),
        model: values.model,
        calibration: values['random-ids'] ? { randomIds: true, samples, seqLen, seed } : { text: values['calib-text'], samples, seqLen, seed },
        evaluation: { text: values['eval-text'] ?? 'random ids', tokens: Math.min(evaluation.length, maxTokens ?? Infinity), ctx: ctxLength },
        mode,
        blockSize,
        damp,
        results: Object.fromEntries(
          Object.entries(results).map(([k, v]) => [k, { ppl: +v.ppl.toFixed(4), sparsity: +v.sparsity.toFixed(4), seconds: v.seconds }]),
        ),
      },
      null,
      2,
    ),
  );
  model.destroy();
} finally {
  gpu.destroy();
}
