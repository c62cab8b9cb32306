/**
 * Steering's text form and mask arithmetic (src/engine/model/steering.ts): L:E pairs with * for every MoE layer,
 * round trip, range checks against the model, and switched-off experts combined with a pruning's dropped experts.
 */
import { describe, expect, it } from 'vitest';
import { decodeExperiment, encodeExperiment } from '../../src/engine/experiment/url.ts';
import { defaultExperiment } from '../../src/engine/experiment/schema.ts';
import { formatExpertSwitches, parseExpertSwitches, steerMaskSet, switchedOffByLayer } from '../../src/engine/model/steering.ts';
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
});
