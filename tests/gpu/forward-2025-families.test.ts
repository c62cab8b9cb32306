/**
 * The GPU forward against transformers' own outputs for the set-b fixtures (DeepSeek-V2/V3 with multi-head latent
 * attention, grouped softmax/sigmoid routing with correction bias, YaRN; GLM-4.5 with partial rotary, qk-norm and
 * sigmoid routing; their layer 0 is a dense MLP, with no MoE tensors) and the set-c fixtures (gpt_oss: attention
 * sinks, a sliding window of 16 / 24 < T on layer 0, biased router and experts, clamped SwiGLU; gpt_oss_mxfp4's MXFP4
 * experts decoded on load, YaRN): logits, router logits and the MoE layers' input/output within 1e-4 of each
 * tensor's largest magnitude, mean NLL (so perplexity) within 1e-5 relative.
 */
import { describe, expect, it } from 'vitest';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES_B, FIXTURES_C, openFixture, readFixtureReference } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

function expectScaledClose(got: ArrayLike<number>, ref: Float32Array, label: string): number {
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return expectClose(got, ref, { atol: 1e-4 * scale, rtol: 0, label }).maxAbsDiff / scale;
}

describe.each([...FIXTURES_B, ...FIXTURES_C])('GPU forward: %s', (name) => {
  it('matches transformers (logits, router logits, MoE input/output, NLL)', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture(name);
    const ref = await readFixtureReference(name);
    const { spec } = checkpoint;
    const T = ref.inputIds.length;
    const result = await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint);
      const forward = new GpuForward(model, 1, T);
      try {
        return await forward.run({ ids: ref.inputIds, logits: true, nll: true, taps: ['routerLogits', 'moeInput', 'moeOutput'] });
      } finally {
        forward.destroy();
        model.destroy();
      }
    });
    const errors = [expectScaledClose(result.logits!, ref.tensors.get('logits')!, `${name} logits`)];
    for (let l = 0; l < spec.numLayers; l++) {
      if (!spec.moeLayers[l]) continue;
      const taps = result.layers[l];
      errors.push(expectScaledClose(taps.moeInput!, ref.tensors.get(`layers.${l}.moe_input`)!, `${name} layer ${l} moe_input`));
      errors.push(expectScaledClose(taps.moeOutput!, ref.tensors.get(`layers.${l}.moe_output`)!, `${name} layer ${l} moe_output`));
      errors.push(expectScaledClose(taps.routerLogits!, ref.tensors.get(`layers.${l}.router_logits`)!, `${name} layer ${l} router_logits`));
    }
    const nll = result.nll!.subarray(0, T - 1).reduce((a, b) => a + b, 0) / (T - 1);
    const nllError = Math.abs(nll - ref.meanNll) / ref.meanNll;
    console.log(`${name}: max error / scale ${Math.max(...errors).toExponential(2)}, NLL rel ${nllError.toExponential(2)}`);
    expect(nllError).toBeLessThan(1e-5);
  });
});
