/**
 * The CPU reference forward against transformers' own outputs for the DeepSeek-V2/V3 (multi-head latent
 * attention, grouped softmax/sigmoid routing with correction bias and scaling, YaRN) and GLM-4.5 (partial rotary,
 * qk-norm, q/k/v bias, sigmoid routing) fixtures: logits and router logits within 1e-4 of the tensor's largest
 * magnitude, MoE input/output likewise, mean NLL (so perplexity) within 1e-5 relative, and the same experts chosen.
 */
import { describe, expect, it } from 'vitest';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { meanNextTokenNll, referenceForward } from '../../src/engine/reference/forward.ts';
import { route } from '../../src/engine/reference/routing.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES_B, openFixture, readFixtureReference } from '../helpers/fixtures.ts';

/** |got - ref| <= 1e-4 * max |ref| everywhere (an f64 reference against transformers' f32 outputs). */
function expectScaledClose(got: ArrayLike<number>, ref: Float32Array, label: string): number {
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return expectClose(got, ref, { atol: 1e-4 * scale, rtol: 0, label }).maxAbsDiff / scale;
}

describe.each(FIXTURES_B)('reference forward: %s', (name) => {
  it('matches transformers (logits, router logits, MoE input/output, NLL)', async () => {
    const checkpoint = await openFixture(name);
    const weights = await loadReferenceWeights(checkpoint);
    const ref = await readFixtureReference(name);
    const { spec } = checkpoint;
    const result = referenceForward(weights, ref.inputIds, { trace: true });
    const errors = [expectScaledClose(result.logits, ref.tensors.get('logits')!, `${name} logits`)];
    expect(spec.moeLayers).toEqual([false, true, true]);
    for (let l = 1; l < spec.numLayers; l++) {
      const trace = result.moe[l]!;
      errors.push(expectScaledClose(trace.input, ref.tensors.get(`layers.${l}.moe_input`)!, `${name} layer ${l} moe_input`));
      errors.push(expectScaledClose(trace.output, ref.tensors.get(`layers.${l}.moe_output`)!, `${name} layer ${l} moe_output`));
      errors.push(expectScaledClose(trace.routerLogits, ref.tensors.get(`layers.${l}.router_logits`)!, `${name} layer ${l} router_logits`));
    }
    const nll = meanNextTokenNll(result.logits, ref.inputIds, spec.vocabSize);
    expect(Math.abs(nll - ref.meanNll) / ref.meanNll).toBeLessThan(1e-5);
    console.log(`${name}: max error / scale ${Math.max(...errors).toExponential(2)}, NLL rel ${(Math.abs(nll - ref.meanNll) / ref.meanNll).toExponential(2)}`);
  });

  it('uses the correction bias for the choice only (where the fixture has one, it changes some choices)', async () => {
    const checkpoint = await openFixture(name);
    const weights = await loadReferenceWeights(checkpoint);
    const { spec } = checkpoint;
    const rule = spec.routing;
    if (rule.kind !== 'grouped-topk' || !rule.correctionBias) return;
    const ref = await readFixtureReference(name);
    const logits = ref.tensors.get('layers.1.router_logits')!;
    const bias = weights.layers[1].correctionBias!;
    const E = spec.numExperts;
    let changed = 0;
    for (let t = 0; t < ref.inputIds.length; t++) {
      const row = logits.subarray(t * E, (t + 1) * E);
      const withBias = route(rule, row, spec.topK, bias);
      const without = route(rule, row, spec.topK, null);
      if ([...withBias.experts].sort().join() !== [...without.experts].sort().join()) changed++;
      // g: sigmoid scores of the chosen experts, renormalized, times routed_scaling_factor; never the bias.
      const scores = withBias.experts.map((e) => 1 / (1 + Math.exp(-row[e])));
      const sum = scores.reduce((a, b) => a + b, 0);
      withBias.weights.forEach((w, i) => expect(w).toBeCloseTo((scores[i] / sum) * rule.scale, 12));
    }
    expect(changed).toBeGreaterThan(0);
  });
});
