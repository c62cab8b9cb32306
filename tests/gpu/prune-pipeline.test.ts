/**
 * The GPU pruning pipeline (src/gpu/prune/pipeline.ts) against the CPU reference pipeline
 * (src/engine/reference/prune-pipeline.ts) on all six hf-tiny checkpoints: the masks, read back from the GPU, equal
 * the reference bit for bit, and the report's kept counts (popcount on the GPU) equal the reference's, for every
 * method, N:M, the three groups, expert dropping by each criterion, OWL, attention and shared-expert targets, and
 * sequential mode (whose statistics the reference is then given). Calibration: 4 seeded windows of 24 tokens.
 * A synthetic f16 model with odd sizes (expert matrices of 12 x 20 weights: ranges that start and end mid-word)
 * exercises the masks placed on the CPU instead of in place.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { CalibrationStats } from '../../src/engine/calibration/stats.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { referencePipeline } from '../../src/engine/reference/prune-pipeline.ts';
import { pipelineSettings, type PipelineSettings } from '../../src/engine/prune/pipeline-settings.ts';
import { parsePattern } from '../../src/engine/prune/settings.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { prunePipeline } from '../../src/gpu/prune/pipeline.ts';
import { FIXTURES, openFixture, type FixtureName } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { canonicalReader, maskSetDifference, randomWindows } from './prune-pipeline-helpers.ts';

interface Loaded {
  checkpoint: Checkpoint;
  model: GpuModel;
  windows: number[][];
  stats: CalibrationStats;
}

/** The settings exercised on every fixture (shared-expert fixtures add the 'shared' target where experts are pruned). */
function cases(hasShared: boolean): [string, Partial<PipelineSettings>][] {
  const experts = hasShared ? (['experts', 'shared'] as const) : (['experts'] as const);
  return [
    ['moe-pruner 50% row', { method: 'moe-pruner', sparsity: 0.5, targets: [...experts] }],
    ['wanda 2:4, 2 experts dropped by REAP', { method: 'wanda', pattern: parsePattern('2:4'), expertsDrop: 2, expertCriterion: 'reap' }],
    [
      'magnitude 30% matrix groups, attention too, OWL',
      { method: 'magnitude', sparsity: 0.3, group: 'matrix', targets: ['experts', 'attention'], allocation: 'owl' },
    ],
    [
      'random 40% layer groups, 1 expert dropped by gate',
      { method: 'random', sparsity: 0.4, group: 'layer', seed: 7, expertsDrop: 1, expertCriterion: 'gate', targets: [...experts] },
    ],
    [
      'moe-pruner 60% layer groups + OWL + 3 dropped by frequency',
      { method: 'moe-pruner', sparsity: 0.6, group: 'layer', allocation: 'owl', expertsDrop: 3, expertCriterion: 'frequency' },
    ],
    ['wanda 4:8 on attention only', { method: 'wanda', pattern: parsePattern('4:8'), targets: ['attention'] }],
    ['drop 2 experts only (sparsity 0)', { method: 'magnitude', sparsity: 0, expertsDrop: 2, expertCriterion: 'frequency' }],
  ];
}

describe.each(FIXTURES)('pruning pipeline on %s', (name: FixtureName) => {
  let loaded: Loaded;
  beforeAll(async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture(name);
    const model = await GpuModel.upload(ctx, checkpoint);
    const windows = randomWindows(4, 24, checkpoint.spec.vocabSize, 11);
    const { stats } = await calibrateOnGpu(model, windows);
    loaded = { checkpoint, model, windows, stats };
    return () => model.destroy();
  });

  it('dense mode: masks and kept counts equal the CPU reference pipeline for every case', async () => {
    const { checkpoint, model, windows, stats } = loaded;
    const canonical = canonicalReader(checkpoint);
    for (const [label, patch] of cases(checkpoint.spec.sharedExpert !== null)) {
      const settings = pipelineSettings(patch);
      const run = await withinErrorScopes(model.ctx, () => prunePipeline(model, settings, { windows, stats }));
      try {
        const reference = await referencePipeline({ spec: checkpoint.spec, canonical, stats, settings });
        const difference = maskSetDifference(await run.readMaskSet(), reference.masks);
        expect(difference, `${name}, ${label}`).toBeNull();
        expect(
          run.report.achieved.matrices.map((m) => [m.name, m.pruned]),
          label,
        ).toEqual(reference.counts.map((c) => [c.piece.label, c.piece.rows * c.piece.cols - c.kept]));
        expect(run.report.layers, label).toEqual(reference.layers);
      } finally {
        run.destroy();
      }
    }
  });

  it('sequential mode: each layer pruned from the statistics measured through the pruned prefix', async () => {
    const { checkpoint, model, windows, stats } = loaded;
    const settings = pipelineSettings({ method: 'wanda', sparsity: 0.5, mode: 'sequential', expertsDrop: 1, expertCriterion: 'frequency', allocation: 'owl' });
    const run = await withinErrorScopes(model.ctx, () => prunePipeline(model, settings, { windows }));
    try {
      expect(run.stats?.mode).toBe('sequential');
      // Layer 0 sees the dense model either way; later layers see the pruned prefix.
      const layer0 = run.stats!.layers[0]!.experts[0].inputSqNorm;
      expect(Array.from(layer0)).toEqual(Array.from(stats.layers[0]!.experts[0].inputSqNorm));
      expect(Array.from(run.stats!.layers[1]!.experts[0].inputSqNorm)).not.toEqual(Array.from(stats.layers[1]!.experts[0].inputSqNorm));
      const reference = await referencePipeline({
        spec: checkpoint.spec,
        canonical: canonicalReader(checkpoint),
        stats: run.stats,
        allocationStats: stats,
        settings,
      });
      expect(maskSetDifference(await run.readMaskSet(), reference.masks)).toBeNull();
      expect(run.report.layers).toEqual(reference.layers);
    } finally {
      run.destroy();
    }
  });
});

describe('pruning pipeline on odd shapes (f16, expert ranges not on mask words)', () => {
  it('masks equal the CPU reference when pieces share mask words', async () => {
    const ctx = await gpu();
    const config = {
      model_type: 'mixtral',
      architectures: ['MixtralForCausalLM'],
      hidden_size: 20,
      intermediate_size: 12,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      num_hidden_layers: 2,
      num_local_experts: 6,
      num_experts_per_tok: 2,
      vocab_size: 64,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
    };
    const checkpoint = await openCheckpoint(syntheticModelFolder(config, 'F16', 4));
    expect((checkpoint.spec.expertFfnSize * checkpoint.spec.hiddenSize) % 32).not.toBe(0);
    const model = await GpuModel.upload(ctx, checkpoint);
    try {
      const windows = randomWindows(3, 16, 64, 2);
      const { stats } = await calibrateOnGpu(model, windows);
      const canonical = canonicalReader(checkpoint);
      for (const patch of [
        { method: 'moe-pruner', sparsity: 0.5, targets: ['experts', 'attention'], expertsDrop: 1 },
        { method: 'magnitude', sparsity: 0.3, group: 'layer', allocation: 'owl' },
        { method: 'wanda', pattern: parsePattern('2:4') },
      ] as Partial<PipelineSettings>[]) {
        const settings = pipelineSettings(patch);
        const run = await withinErrorScopes(ctx, () => prunePipeline(model, settings, { windows, stats }));
        try {
          const reference = await referencePipeline({ spec: checkpoint.spec, canonical, stats, settings });
          expect(maskSetDifference(await run.readMaskSet(), reference.masks), JSON.stringify(patch)).toBeNull();
          expect(run.report.achieved.matrices.map((m) => m.pruned)).toEqual(reference.counts.map((c) => c.piece.rows * c.piece.cols - c.kept));
        } finally {
          run.destroy();
        }
      }
    } finally {
      model.destroy();
    }
  });
});
