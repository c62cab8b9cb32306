/**
 * The GPU forward against transformers' own outputs (tests/fixtures/hf-tiny) for all six families: logits,
 * router logits and each layer's MoE input/output within 1e-3, mean NLL within 1e-4 relative of reference.json.
 */
import { describe, expect, it } from 'vitest';
import { readTensorF32 } from '../../src/engine/model/checkpoint.ts';
import { linear } from '../../src/engine/reference/ops.ts';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES, openFixture, readFixtureReference } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

describe.each(FIXTURES)('GPU forward: %s', (name) => {
  it('matches transformers (logits, router logits, MoE input/output, NLL)', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture(name);
    const ref = await readFixtureReference(name);
    const { spec } = checkpoint;
    const T = ref.inputIds.length;
    const progress: number[] = [];
    const result = await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint, { onProgress: (p) => progress.push(p.doneBytes / p.totalBytes) });
      const forward = new GpuForward(model, 1, T);
      try {
        return await forward.run({ ids: ref.inputIds, logits: true, nll: true, taps: ['routerLogits', 'moeInput', 'moeOutput'] });
      } finally {
        forward.destroy();
        model.destroy();
      }
    });
    expect(progress.at(-1)).toBe(1);
    const tol = { atol: 1e-3, rtol: 0 };
    const logits = expectClose(result.logits!, ref.tensors.get('logits')!, { ...tol, label: `${name} logits` });
    for (let l = 0; l < spec.numLayers; l++) {
      const taps = result.layers[l];
      expectClose(taps.moeInput!, ref.tensors.get(`layers.${l}.moe_input`)!, { ...tol, label: `${name} layer ${l} moe_input` });
      expectClose(taps.moeOutput!, ref.tensors.get(`layers.${l}.moe_output`)!, { ...tol, label: `${name} layer ${l} moe_output` });
      // Granite's reference has no router logits: they are moe_input . router^T (fixtures README).
      const routerRef =
        ref.tensors.get(`layers.${l}.router_logits`) ??
        linear(
          Float64Array.from(ref.tensors.get(`layers.${l}.moe_input`)!),
          T,
          spec.hiddenSize,
          await readTensorF32(checkpoint, checkpoint.names.layers[l].router!),
          spec.numExperts,
        );
      expectClose(taps.routerLogits!, routerRef, { ...tol, label: `${name} layer ${l} router_logits` });
    }
    const nll = result.nll!.subarray(0, T - 1).reduce((a, b) => a + b, 0) / (T - 1);
    expect(Number.isNaN(result.nll![T - 1])).toBe(true);
    console.log(`${name}: logits max |diff| ${logits.maxAbsDiff.toExponential(2)}, mean NLL ${nll.toFixed(6)} (transformers ${ref.meanNll.toFixed(6)})`);
    expect(Math.abs(nll - ref.meanNll) / ref.meanNll).toBeLessThan(1e-4);
  });
});
