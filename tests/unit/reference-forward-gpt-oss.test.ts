/**
 * The CPU reference forward against transformers' own outputs for the gpt_oss fixtures (attention sinks, a sliding
 * window of 16 / 24 < T = 96 on layer 0 and full attention on layer 1, biased router and experts, the clamped
 * SwiGLU, interleaved gate_up; gpt_oss_mxfp4 with MXFP4 expert blocks + scales decoded on load): logits and router
 * logits within 1e-4 of the tensor's largest magnitude, MoE input/output likewise, mean NLL (so perplexity) within
 * 1e-5 relative. Also: the MXFP4 decoding table, and that the sinks, the window and the clamp all matter here.
 */
import { describe, expect, it } from 'vitest';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { meanNextTokenNll, referenceForward } from '../../src/engine/reference/forward.ts';
import { decodeMxfp4 } from '../../src/engine/model/mxfp4.ts';
import { countParameters } from '../../src/engine/model/spec.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES_C, openFixture, readFixtureReference } from '../helpers/fixtures.ts';

/** |got - ref| <= 1e-4 * max |ref| everywhere (an f64 reference against transformers' f32 outputs). */
function expectScaledClose(got: ArrayLike<number>, ref: Float32Array, label: string): number {
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return expectClose(got, ref, { atol: 1e-4 * scale, rtol: 0, label }).maxAbsDiff / scale;
}

describe.each(FIXTURES_C)('reference forward: %s', (name) => {
  it('reads the gpt_oss spec', async () => {
    const { spec, names } = await openFixture(name);
    expect(spec.architecture).toBe('gpt_oss');
    expect(spec.attentionWindows).toEqual([name === 'gpt_oss' ? 16 : 24, null]);
    expect(spec.slidingWindow).toBeNull(); // no context limit: the window is a per-layer mask
    expect([spec.attentionSinks, spec.routerBias, spec.expertBias, spec.qkvBias, spec.oBias]).toEqual([true, true, true, true, true]);
    expect(spec.expertActivation).toEqual({ kind: 'clamped-swiglu', alpha: 1.702, limit: 7 });
    expect(spec.routing).toEqual({ kind: 'topk-softmax' });
    expect(spec.rope.yarn !== null).toBe(name === 'gpt_oss_mxfp4');
    const experts = names.layers[0].experts!;
    expect(experts.layout === 'gpt-oss' && experts.format).toBe(name === 'gpt_oss' ? 'dense' : 'mxfp4');
    // An expert: gate_up [2I, H] + down [H, I] + their biases [2I] and [H].
    const perExpert = 3 * 64 * 32 + 2 * 32 + 64;
    expect(countParameters(spec).perExpert).toBe(perExpert);
  });

  it('matches transformers (logits, router logits, MoE input/output, NLL)', async () => {
    const checkpoint = await openFixture(name);
    const weights = await loadReferenceWeights(checkpoint);
    const ref = await readFixtureReference(name);
    const { spec } = checkpoint;
    const result = referenceForward(weights, ref.inputIds, { trace: true });
    const errors = [expectScaledClose(result.logits, ref.tensors.get('logits')!, `${name} logits`)];
    for (let l = 0; l < spec.numLayers; l++) {
      const trace = result.moe[l]!;
      errors.push(expectScaledClose(trace.input, ref.tensors.get(`layers.${l}.moe_input`)!, `${name} layer ${l} moe_input`));
      errors.push(expectScaledClose(trace.output, ref.tensors.get(`layers.${l}.moe_output`)!, `${name} layer ${l} moe_output`));
      errors.push(expectScaledClose(trace.routerLogits, ref.tensors.get(`layers.${l}.router_logits`)!, `${name} layer ${l} router_logits`));
    }
    const nll = meanNextTokenNll(result.logits, ref.inputIds, spec.vocabSize);
    const nllRel = Math.abs(nll - ref.meanNll) / ref.meanNll;
    expect(nllRel).toBeLessThan(1e-5);
    console.log(`${name}: max error / scale ${Math.max(...errors).toExponential(2)}, NLL rel ${nllRel.toExponential(2)}`);
  });

  it('depends on the sinks, the sliding window and the clamp (each left out moves the logits)', async () => {
    const checkpoint = await openFixture(name);
    const ref = await readFixtureReference(name);
    const logits = ref.tensors.get('logits')!;
    const scale = logits.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const deviation = async (change: (w: Awaited<ReturnType<typeof loadReferenceWeights>>) => void) => {
      const weights = await loadReferenceWeights(checkpoint);
      change(weights);
      const got = referenceForward(weights, ref.inputIds).logits;
      return got.reduce((m, v, i) => Math.max(m, Math.abs(v - logits[i])), 0) / scale;
    };
    const noSinks = await deviation((w) => w.layers.forEach((l) => (l.sinks = null)));
    const noWindow = await deviation((w) => (w.spec = { ...w.spec, attentionWindows: w.spec.attentionWindows.map(() => null) }));
    const noClamp = await deviation((w) => (w.spec = { ...w.spec, expertActivation: { kind: 'clamped-swiglu', alpha: 1.702, limit: 1e9 } }));
    for (const d of [noSinks, noWindow, noClamp]) expect(d).toBeGreaterThan(1e-2);
  });
});

describe('MXFP4 decoding', () => {
  it('decodes e2m1 codes (low nibble first) times 2^(scale - 127)', () => {
    // One row of 32: bytes 0x10 (codes 0, 1), 0xf7 (codes 7, 15), the rest 0x9a (codes 10, 9); scale 2^-2.
    const blocks = new Uint8Array(16).fill(0x9a);
    blocks[0] = 0x10;
    blocks[1] = 0xf7;
    const out = decodeMxfp4(blocks, new Uint8Array([125]), 1, 32);
    expect(Array.from(out.subarray(0, 6))).toEqual([0, 0.125, 1.5, -1.5, -0.25, -0.125]);
    expect(() => decodeMxfp4(blocks, new Uint8Array([125]), 1, 16)).toThrow(/multiple of 32/);
  });
});
