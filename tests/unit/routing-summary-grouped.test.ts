/**
 * The router inspector on grouped-topk routers (DeepSeek-V3, GLM-4.5): the score of each chosen expert (sigmoid
 * of its logit) shown apart from g (renormalized, times routed_scaling_factor), and the experts the scores alone
 * would pick, with the number of tokens the correction bias moved, from a record of the set-b deepseek_v3 fixture's
 * router logits (routing.ts decides the choice, as the forward's route kernel does).
 */
import { describe, expect, it } from 'vitest';
import type { GroupedTopk } from '../../src/engine/model/spec.ts';
import { route } from '../../src/engine/reference/routing.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { summarizeLayer } from '../../src/lab/routing-summary.ts';
import { describeTokenRouting } from '../../src/ui/lab/TokenRoutingView.tsx';
import { openFixture, readFixtureReference } from '../helpers/fixtures.ts';

describe('router inspector: sigmoid scores and the bias-corrected choice', () => {
  it('deepseek_v3 layer 1: scores, g and the tokens the correction bias moved', async () => {
    const checkpoint = await openFixture('deepseek_v3');
    const { spec } = checkpoint;
    const rule = spec.routing as GroupedTopk;
    const bias = (await loadReferenceWeights(checkpoint)).layers[1].correctionBias!;
    const ref = await readFixtureReference('deepseek_v3');
    const logits = ref.tensors.get('layers.1.router_logits')!;
    const { numExperts: E, topK: K } = spec;
    const T = ref.inputIds.length;
    const expertIds = new Uint32Array(T * K);
    const gates = new Float32Array(T * K);
    let moved = 0;
    for (let t = 0; t < T; t++) {
      const row = logits.subarray(t * E, (t + 1) * E);
      const r = route(rule, row, K, bias);
      r.experts.forEach((e, k) => ((expertIds[t * K + k] = e), (gates[t * K + k] = r.weights[k])));
      const plain = route(rule, row, K, null).experts;
      if (plain.some((e) => !r.experts.includes(e))) moved++;
    }
    const record = { expertIds, gates, entropy: new Float32Array(T), margin: new Float32Array(T), routerLogits: logits, correctionBias: bias };
    const view = summarizeLayer(1, record, E, K, rule);
    expect(moved).toBeGreaterThan(0);
    expect(view.biasChoice!.changed).toBe(moved);
    // g runs up to routed_scaling_factor: the gate histogram spans [0, 2.5] and holds every chosen slot.
    expect(view.gateMax).toBe(2.5);
    expect(view.gateHistogram.flat().reduce((a, b) => a + b, 0)).toBe(T * K);
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < K; k++) {
        const e = expertIds[t * K + k];
        expect(view.scores![t * K + k]).toBeCloseTo(1 / (1 + Math.exp(-logits[t * E + e])), 6);
      }
      // g = score / (sum of the K scores) * routed_scaling_factor: the bias is in the choice only.
      const sum = view.scores![t * K] + view.scores![t * K + 1];
      expect(gates[t * K]).toBeCloseTo((view.scores![t * K] / sum) * rule.scale, 5);
    }
    const movedToken = Array.from({ length: T }, (_, t) => t).find((t) => {
      const plain = Array.from(view.biasChoice!.scoreOnly.subarray(t * K, (t + 1) * K));
      return plain.some((e) => !expertIds.subarray(t * K, (t + 1) * K).includes(e));
    })!;
    expect(describeTokenRouting('x', movedToken, view, K)).toMatch(/score 0\.\d+, g = .*the scores alone pick experts/);
    // Other rules: no scores, no bias view.
    const plainView = summarizeLayer(1, record, E, K, { kind: 'softmax-topk', renormalize: true });
    expect([plainView.scores, plainView.biasChoice]).toEqual([null, null]);
  });
});
