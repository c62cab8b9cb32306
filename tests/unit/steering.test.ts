/**
 * Steering's text form and mask arithmetic (src/engine/model/steering.ts): L:E pairs with * for every MoE layer,
 * round trip, range checks against the model, and switched-off experts combined with a pruning's dropped experts;
 * forced experts: one per layer, never a switched-off or dropped one, in the link as force=, and the CPU reference
 * forward routes every token of a forced layer to that expert alone with gate 1.
 */
import { describe, expect, it } from 'vitest';
import { decodeExperiment, encodeExperiment } from '../../src/engine/experiment/url.ts';
import { defaultExperiment } from '../../src/engine/experiment/schema.ts';
import { forcedByLayer, formatExpertSwitches, parseExpertSwitches, steerMaskSet, switchedOffByLayer } from '../../src/engine/model/steering.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { maskReferenceWeights } from '../../src/engine/reference/masked-weights.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { openFixture } from '../helpers/fixtures.ts';

describe('expert switches', () => {
  it('parses and formats L:E pairs, * for every MoE layer', () => {
    const switches = parseExpertSwitches(' 0:3, *:5');
    expect(switches).toEqual([
      { layer: 0, expert: 3 },
      { layer: '*', expert: 5 },
    ]);
    expect(formatExpertSwitches(switches)).toBe('0:3,*:5');
    expect(parseExpertSwitches('')).toEqual([]);
    expect(() => parseExpertSwitches('0:3,x')).toThrow(/'x' is not LAYER:EXPERT/);
    expect(() => parseExpertSwitches('0:-1')).toThrow(/not LAYER:EXPERT/);
  });

  it('expands * over the MoE layers, checks ranges and ANDs with the masks' + "' dropped experts", async () => {
    const { spec } = await openFixture('mixtral');
    expect(switchedOffByLayer(parseExpertSwitches('*:2,1:0,1:2'), spec)).toEqual([[2], [0, 2]]);
    expect(() => switchedOffByLayer([{ layer: 5, expert: 0 }], spec)).toThrow(/layer 5 is not a MoE layer/);
    expect(() => switchedOffByLayer([{ layer: 0, expert: spec.numExperts }], spec)).toThrow(/out of range/);
    const bits = new Uint32Array(4);
    const base = { layers: [{ matrices: { 'attn.q': bits }, expertEnabled: Uint8Array.from([1, 0, 1, 1, 1, 1, 1, 1]) }, null] };
    const steered = steerMaskSet(base, parseExpertSwitches('*:2'), spec);
    expect(Array.from(steered.layers[0]!.expertEnabled!)).toEqual([1, 0, 0, 1, 1, 1, 1, 1]);
    expect(steered.layers[0]!.matrices['attn.q']).toBe(bits);
    expect(Array.from(steered.layers[1]!.expertEnabled!)).toEqual([1, 1, 0, 1, 1, 1, 1, 1]);
    expect(Array.from(base.layers[0]!.expertEnabled)).toEqual([1, 0, 1, 1, 1, 1, 1, 1]);
  });

  it('travels in the share link as steer= (only when some expert is off); a bad value is a note and means none', () => {
    const e = defaultExperiment();
    expect(encodeExperiment(e)).not.toContain('steer=');
    e.evaluation.disabledExperts = parseExpertSwitches('*:3,1:0');
    const hash = encodeExperiment(e);
    expect(hash).toContain('steer=*:3,1:0');
    expect(decodeExperiment(`#${hash}`).experiment.evaluation.disabledExperts).toEqual(e.evaluation.disabledExperts);
    const bad = decodeExperiment('#v=1&steer=3-1');
    expect(bad.experiment.evaluation.disabledExperts).toEqual([]);
    expect(bad.notes.join(' ')).toMatch(/steer=.*3-1.*not LAYER:EXPERT/);
  });

  it('forces at most one expert per layer, never a switched-off or dropped one, and keeps the masks', async () => {
    const { spec } = await openFixture('mixtral');
    expect(forcedByLayer(parseExpertSwitches('*:2'), spec)).toEqual([2, 2]);
    expect(forcedByLayer(parseExpertSwitches('1:5,1:5'), spec)).toEqual([null, 5]);
    expect(() => forcedByLayer(parseExpertSwitches('*:2,0:3'), spec)).toThrow(/layer 0 is forced to both expert 2 and expert 3/);
    expect(() => forcedByLayer(parseExpertSwitches('0:9'), spec)).toThrow(/out of range/);
    const bits = new Uint32Array(4);
    const base = { layers: [{ matrices: { 'attn.q': bits }, expertEnabled: Uint8Array.from([1, 0, 1, 1, 1, 1, 1, 1]) }, null] };
    const steered = steerMaskSet(base, [], spec, parseExpertSwitches('0:3'));
    expect(steered.layers[0]).toEqual({ matrices: { 'attn.q': bits }, expertEnabled: base.layers[0]!.expertEnabled, forcedExpert: 3 });
    expect(steered.layers[1]).toBeNull();
    expect(() => steerMaskSet(base, [], spec, parseExpertSwitches('0:1'))).toThrow(/expert 1 is switched off or dropped in layer 0/);
    expect(() => steerMaskSet(null, parseExpertSwitches('1:4'), spec, parseExpertSwitches('*:4'))).toThrow(/switched off or dropped in layer 1/);
  });

  it('the reference forward routes every token of a forced layer to that expert alone with gate 1', async () => {
    const checkpoint = await openFixture('mixtral');
    const weights = await loadReferenceWeights(checkpoint);
    const ids = [1, 5, 9, 2, 7];
    const forced = referenceForward(maskReferenceWeights(weights, steerMaskSet(null, [], checkpoint.spec, parseExpertSwitches('1:6'))), ids, { trace: true });
    const dense = referenceForward(weights, ids, { trace: true });
    expect(forced.moe[1]!.routed).toEqual(ids.map(() => ({ experts: [6], weights: [1] })));
    // Layer 0 comes before the forced layer, so it is untouched; the router of layer 1 still runs on the same input.
    expect(forced.moe[0]!.routed).toEqual(dense.moe[0]!.routed);
    expect(Array.from(forced.moe[1]!.routerLogits)).toEqual(Array.from(dense.moe[1]!.routerLogits));
    expect(forced.logits).not.toEqual(dense.logits);
  });

  it('travels in the share link as force= (only when some expert is forced)', () => {
    const e = defaultExperiment();
    expect(encodeExperiment(e)).not.toContain('force=');
    e.evaluation.forcedExperts = parseExpertSwitches('*:1');
    const hash = encodeExperiment(e);
    expect(hash).toContain('force=*:1');
    expect(decodeExperiment(`#${hash}`).experiment.evaluation.forcedExperts).toEqual(e.evaluation.forcedExperts);
  });
});
