/**
 * Pruning multi-head latent attention (DeepSeek-V2 with q_proj, DeepSeek-V3 with the q LoRA; the masked forward itself
 * is tested in forward-masks.test.ts): the pipeline's masks with targets experts,attention equal the CPU reference pipeline's for magnitude, Wanda and
 * MoE-Pruner, q_b and kv_b scored with their own inputs (attn.q_b_input_sqnorm, attn.kv_b_input_sqnorm).
 */
import { describe, expect, it } from 'vitest';
import { countKept } from '../../src/engine/model/mask-set.ts';
import { targetKeys } from '../../src/engine/prune/layer-plan.ts';
import { pipelineSettings, type PipelineMethod } from '../../src/engine/prune/pipeline-settings.ts';
import { referencePipeline } from '../../src/engine/reference/prune-pipeline.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { prunePipeline } from '../../src/gpu/prune/pipeline.ts';
import { openFixture } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { canonicalReader, maskSetDifference, randomWindows } from './prune-pipeline-helpers.ts';

describe.each(['deepseek_v2', 'deepseek_v3'] as const)('multi-head latent attention pruned: %s', (name) => {
  it('targets experts,attention: masks equal the CPU reference pipeline for magnitude, wanda and moe-pruner', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture(name);
    const { spec } = checkpoint;
    const canonical = canonicalReader(checkpoint);
    await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint);
      try {
        const windows = randomWindows(3, 24, spec.vocabSize, 11);
        const { stats } = await calibrateOnGpu(model, windows);
        const layer = stats.layers[1]!;
        expect(layer.attnKvBInputSqNorm).toHaveLength(spec.mla!.kvLoraRank);
        expect(layer.attnQBInputSqNorm?.length ?? null).toBe(spec.mla!.qLoraRank);
        for (const method of ['magnitude', 'wanda', 'moe-pruner'] as PipelineMethod[]) {
          const settings = pipelineSettings({ method, sparsity: 0.5, targets: ['experts', 'attention'] });
          const run = await prunePipeline(model, settings, { windows, stats });
          try {
            const reference = await referencePipeline({ spec, canonical, stats, settings });
            const masks = await run.readMaskSet();
            expect(maskSetDifference(masks, reference.masks), `${name} ${method}`).toBeNull();
            // Every attention projection of the MoE layers is half pruned (row groups, 50%).
            for (const key of targetKeys(spec, 1, ['attention'])) {
              const bits = masks.layers[1]!.matrices[key]!;
              const n = reference.counts.filter((c) => c.piece.layer === 1 && c.piece.key === key).reduce((s, c) => s + c.piece.rows * c.piece.cols, 0);
              expect(countKept(bits, n), `${name} ${method} ${key}`).toBe(n / 2);
            }
          } finally {
            run.destroy();
          }
        }
        // A statistics file from before kv_b's input was measured reads it as NaN: Wanda refuses, naming it.
        layer.attnKvBInputSqNorm!.fill(NaN);
        const wanda = pipelineSettings({ method: 'wanda', sparsity: 0.5, targets: ['attention'] });
        await expect(prunePipeline(model, wanda, { windows, stats })).rejects.toThrow(
          /layers\.1\.attn\.kv_b: the statistics have no layers\.1\.attn\.kv_b_input_sqnorm \[24\] \(calibrate again/,
        );
      } finally {
        model.destroy();
      }
    });
  });
});
