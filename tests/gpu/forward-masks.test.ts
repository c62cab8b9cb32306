/**
 * Pruning masks applied on the fly: the GPU forward with a MaskSet (every maskable matrix, dropped experts) equals
 * the CPU reference on weights with the masked elements zeroed and the experts removed; switching back to dense
 * gives the dense result bit for bit. DeepSeek-V2 (q_proj) and DeepSeek-V3 (q LoRA) mask multi-head latent attention's
 * projections (q or q_a / q_b, kv_a, kv_b, o).
 */
import { describe, expect, it } from 'vitest';
import { MATRIX_KEYS, type LayerMasks, type MaskSet } from '../../src/engine/model/mask-set.ts';
import { createRng } from '../../src/engine/random.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { maskReferenceWeights } from '../../src/engine/reference/masked-weights.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { maskedMatrix, uploadMasks } from '../../src/gpu/model/gpu-mask-set.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { openFixture, readFixtureReference, type AnyFixtureName } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { randomMask } from './kernel-harness.ts';

describe.each(['qwen2_moe', 'phimoe', 'deepseek_v2', 'deepseek_v3'] as AnyFixtureName[])('GPU forward with masks: %s', (name) => {
  it('matches the reference on masked weights, and dense again after', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture(name);
    const { spec } = checkpoint;
    const ids = (await readFixtureReference(name)).inputIds.slice(0, 64);
    const rng = createRng(12);
    await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint);
      const forward = new GpuForward(model, 1, ids.length);
      try {
        const masks: MaskSet = {
          layers: model.layers.map((_, l) => {
            const matrices: LayerMasks['matrices'] = {};
            for (const key of MATRIX_KEYS) {
              const matrix = maskedMatrix(model, l, key);
              if (matrix) matrices[key] = randomMask(rng, matrix.elements, 0.7);
            }
            // The first MoE layer drops three experts, the others none.
            const expertEnabled =
              l === spec.moeLayers.indexOf(true) ? Uint8Array.from({ length: spec.numExperts }, (_, e) => (e % 3 === 2 ? 0 : 1)) : undefined;
            return { matrices, expertEnabled };
          }),
        };
        if (spec.mla) {
          const q = spec.mla.qLoraRank === null ? ['attn.q'] : ['attn.q_a', 'attn.q_b'];
          const attention = Object.keys(masks.layers[1]!.matrices).filter((k) => k.startsWith('attn.'));
          expect(attention.sort()).toEqual([...q, 'attn.o', 'attn.kv_a', 'attn.kv_b'].sort());
        }
        const dense = await forward.run({ ids, logits: true });
        const gpuMasks = await uploadMasks(model, masks);
        const pruned = await forward.run({ ids, logits: true, masks: gpuMasks, taps: ['moeOutput'] });
        const denseAgain = await forward.run({ ids, logits: true });
        gpuMasks.destroy();

        const weights = await loadReferenceWeights(checkpoint);
        const ref = referenceForward(maskReferenceWeights(weights, masks), ids, { trace: true });
        expectClose(pruned.logits!, ref.logits, { atol: 1e-3, rtol: 0, label: `${name} masked logits` });
        for (let l = 0; l < spec.numLayers; l++) {
          if (!spec.moeLayers[l]) continue; // DeepSeek's dense first layer has no MoE output
          expectClose(pruned.layers[l].moeOutput!, ref.moe[l]!.output, { atol: 1e-3, rtol: 0, label: `${name} masked layer ${l} moe_output` });
        }
        // Masks did change the model, and took nothing with them.
        const denseRef = referenceForward(weights, ids);
        expectClose(dense.logits!, denseRef.logits, { atol: 1e-3, rtol: 0, label: `${name} dense logits` });
        expect(Math.max(...pruned.logits!.map((v, i) => Math.abs(v - dense.logits![i])))).toBeGreaterThan(1e-2);
        expect(denseAgain.logits).toEqual(dense.logits);
      } finally {
        forward.destroy();
        model.destroy();
      }
    });
  });
});

describe('uploadMasks', () => {
  it('refuses a bitset of the wrong length, naming the matrix', async () => {
    const ctx = await gpu();
    const model = await GpuModel.upload(ctx, await openFixture('olmoe'));
    try {
      const layers: MaskSet['layers'] = model.layers.map(() => null);
      layers[1] = { matrices: { 'attn.o': new Uint32Array(3) } };
      await expect(uploadMasks(model, { layers })).rejects.toThrow(/layers\.1\.attn\.o has 3 words, .*o_proj.* needs 128/);
      layers[1] = { matrices: { 'shared.down': new Uint32Array(3) } };
      await expect(uploadMasks(model, { layers })).rejects.toThrow(/layer 1 has no such matrix/);
    } finally {
      model.destroy();
    }
  });
});
