/**
 * protect = super-experts (src/engine/prune/pipeline-plan.ts): on the Mixtral fixture with statistics in which
 * layer 0's least-used expert is made a super expert (its max |output| 1000x the layer median), dropping by
 * frequency passes it over, its weights stay unpruned, the report names it, and the GPU pipeline's masks equal the
 * CPU reference pipeline's; without protect it is the one dropped. SparseGPT refuses the option.
 */
import { describe, expect, it } from 'vitest';
import { isKept } from '../../src/engine/model/mask-set.ts';
import { openFixture } from '../helpers/fixtures.ts';
import { pipelineSettings } from '../../src/engine/prune/pipeline-settings.ts';
import { referencePipeline } from '../../src/engine/reference/prune-pipeline.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { prunePipeline } from '../../src/gpu/prune/pipeline.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { canonicalReader, maskSetDifference, randomWindows } from './prune-pipeline-helpers.ts';

describe('protect super experts', () => {
  it('never drops or prunes them, on the GPU as in the reference', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture('mixtral');
    const { spec } = checkpoint;
    const model = await GpuModel.upload(ctx, checkpoint);
    try {
      const windows = randomWindows(4, 24, spec.vocabSize, 11);
      const { stats } = await calibrateOnGpu(model, windows);
      const layer0 = stats.layers[0]!;
      const tokens = Array.from(layer0.expertTokens);
      const rarest = tokens.indexOf(Math.min(...tokens));
      layer0.expertOutputAbsMax[rarest] = 1000 * Math.max(...Array.from(layer0.expertOutputAbsMax));
      const canonical = canonicalReader(checkpoint);
      const base = { method: 'wanda' as const, sparsity: 0.5, expertsDrop: 1, expertCriterion: 'frequency' as const };

      const plain = await prunePipeline(model, pipelineSettings(base), { windows, stats });
      expect(plain.report.layers[0].droppedExperts).toEqual([rarest]);
      plain.destroy();

      const settings = pipelineSettings({ ...base, protect: 'super-experts' });
      const run = await withinErrorScopes(ctx, () => prunePipeline(model, settings, { windows, stats }));
      try {
        const layer = run.report.layers[0];
        expect(layer.protectedExperts).toEqual([rarest]);
        expect(layer.droppedExperts).toHaveLength(1);
        expect(layer.droppedExperts).not.toContain(rarest);
        const masks = await run.readMaskSet();
        const { expertFfnSize: I, hiddenSize: H } = spec;
        for (const [key, block] of [
          ['experts.gate_up', 2 * I * H],
          ['experts.down', H * I],
        ] as const) {
          const bits = masks.layers[0]!.matrices[key]!;
          let kept = 0;
          for (let i = rarest * block; i < (rarest + 1) * block; i++) kept += +isKept(bits, i);
          expect(kept, key).toBe(block);
        }
        const reference = await referencePipeline({ spec, canonical, stats, settings });
        expect(maskSetDifference(masks, reference.masks)).toBeNull();
        expect(run.report.layers).toEqual(reference.layers);
      } finally {
        run.destroy();
      }
      await expect(prunePipeline(model, pipelineSettings({ method: 'sparsegpt', sparsity: 0.5, protect: 'super-experts' }), { windows })).rejects.toThrow(
        /protecting super experts is not available with sparsegpt/,
      );
    } finally {
      model.destroy();
    }
  });
});
