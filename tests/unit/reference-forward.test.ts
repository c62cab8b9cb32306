/**
 * The CPU reference forward against transformers' own outputs for all six families (the outside oracle):
 * logits, router logits and each layer's MoE input/output within 1e-3, mean NLL within 1e-4 relative.
 */
import { describe, expect, it } from 'vitest';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { meanNextTokenNll, referenceForward } from '../../src/engine/reference/forward.ts';
import { linear } from '../../src/engine/reference/ops.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES, openFixture, readFixtureReference } from '../helpers/fixtures.ts';

describe.each(FIXTURES)('reference forward: %s', (name) => {
  it('matches transformers (logits, router logits, MoE input/output, NLL)', async () => {
    const checkpoint = await openFixture(name);
    const weights = await loadReferenceWeights(checkpoint);
    const ref = await readFixtureReference(name);
    const { spec } = checkpoint;
    const result = referenceForward(weights, ref.inputIds, { trace: true });
    const tol = { atol: 1e-3, rtol: 0 };
    expectClose(result.logits, ref.tensors.get('logits')!, { ...tol, label: `${name} logits` });
    for (let l = 0; l < spec.numLayers; l++) {
      const trace = result.moe[l]!;
      expectClose(trace.input, ref.tensors.get(`layers.${l}.moe_input`)!, { ...tol, label: `${name} layer ${l} moe_input` });
      expectClose(trace.output, ref.tensors.get(`layers.${l}.moe_output`)!, { ...tol, label: `${name} layer ${l} moe_output` });
      // Granite's reference has no router logits: they are moe_input . router^T (fixtures README).
      const routerRef =
        ref.tensors.get(`layers.${l}.router_logits`) ??
        Float32Array.from(
          linear(
            Float64Array.from(ref.tensors.get(`layers.${l}.moe_input`)!),
            ref.inputIds.length,
            spec.hiddenSize,
            weights.layers[l].router!,
            spec.numExperts,
          ),
        );
      expectClose(trace.routerLogits, routerRef, { ...tol, label: `${name} layer ${l} router_logits` });
    }
    const nll = meanNextTokenNll(result.logits, ref.inputIds, spec.vocabSize);
    expect(Math.abs(nll - ref.meanNll) / ref.meanNll).toBeLessThan(1e-4);
  });
});
