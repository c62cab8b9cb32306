/**
 * Calibration statistics computed straight from a fixture's MoE inputs (transformers' layers.{i}.moe_input and
 * router logits; Granite's router logits are moe_input . router^T): route each token, then sum squares per expert,
 * with no reference forward in between. The independent check of both the CPU reference and the GPU statistics.
 */
import { route } from '../../src/engine/reference/routing.ts';
import { silu } from '../../src/engine/reference/ops.ts';
import type { ReferenceWeights } from '../../src/engine/reference/weights.ts';
import type { FixtureReference } from './fixtures.ts';

/** Straight from the fixture's MoE input: route each token, then sum squares per expert (no reference forward). */
export function independentStats(w: ReferenceWeights, ref: FixtureReference, l: number) {
  const { spec } = w;
  const { hiddenSize: H, numExperts: E, expertFfnSize: I, topK: K } = spec;
  const x = ref.tensors.get(`layers.${l}.moe_input`)!;
  const T = x.length / H;
  const layer = w.layers[l];
  const tokens = new Float64Array(E);
  const gateSum = new Float64Array(E);
  const input = Array.from({ length: E }, () => new Float64Array(H));
  const inputGated = Array.from({ length: E }, () => new Float64Array(H));
  const inter = Array.from({ length: E }, () => new Float64Array(I));
  const interGated = Array.from({ length: E }, () => new Float64Array(I));
  for (let t = 0; t < T; t++) {
    const logits = new Float64Array(E);
    for (let e = 0; e < E; e++) for (let h = 0; h < H; h++) logits[e] += x[t * H + h] * layer.router![e * H + h];
    const given = ref.tensors.get(`layers.${l}.router_logits`);
    const r = route(spec.routing, given ? given.subarray(t * E, (t + 1) * E) : logits, K, layer.correctionBias);
    r.experts.forEach((e, k) => {
      const g = r.weights[k];
      tokens[e] += 1;
      gateSum[e] += g;
      for (let h = 0; h < H; h++) {
        input[e][h] += x[t * H + h] ** 2;
        inputGated[e][h] += (g * x[t * H + h]) ** 2;
      }
      for (let i = 0; i < I; i++) {
        let gate = 0;
        let up = 0;
        for (let h = 0; h < H; h++) {
          gate += x[t * H + h] * layer.gateUp![(e * 2 * I + i) * H + h];
          up += x[t * H + h] * layer.gateUp![(e * 2 * I + I + i) * H + h];
        }
        const a = silu(gate) * up;
        inter[e][i] += a * a;
        interGated[e][i] += (g * a) ** 2;
      }
    });
  }
  return { tokens, gateSum, input, inputGated, inter, interGated };
}
