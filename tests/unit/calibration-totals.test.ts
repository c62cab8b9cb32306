/**
 * The GPU totals layout (src/gpu/calibration/totals.ts) on the CPU: sections are 256-byte aligned and disjoint, and
 * a read-back buffer maps onto the statistics names (counts as u32, sums as f32), for a model with a gated shared
 * expert and one without any.
 */
import { describe, expect, it } from 'vitest';
import { HISTOGRAM_BINS } from '../../src/engine/calibration/stats.ts';
import { layerStatsFromTotals, totalsLayout } from '../../src/gpu/calibration/totals.ts';
import { openFixture } from '../helpers/fixtures.ts';

describe('calibration totals layout', () => {
  it.each(['qwen2_moe', 'mixtral'] as const)('%s: aligned, disjoint sections read back under the right names', async (name) => {
    const { spec } = await openFixture(name);
    const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
    const S = spec.sharedExpert?.ffnSize ?? 0;
    const layout = totalsLayout(spec);
    const sections = Object.entries(layout.sections).sort((a, b) => a[1].at - b[1].at);
    sections.forEach(([section, { at, length }], i) => {
      expect(at % 64, section).toBe(0);
      const next = sections[i + 1]?.[1].at ?? layout.elements;
      expect(at + length, section).toBeLessThanOrEqual(next);
    });
    expect(layout.sections.expertInput.length).toBe(2 * E * H);
    expect(layout.sections.sharedInter.length).toBe(2 * S);

    // Every element holds a value that says where it is: section index * 1e6 + offset in the section.
    const words = new ArrayBuffer(layout.elements * 4);
    const f32 = new Float32Array(words);
    const u32 = new Uint32Array(words);
    const counts = new Set(['expertTokens', 'coactivation', 'routerHistograms']);
    sections.forEach(([section, { at, length }], index) => {
      for (let i = 0; i < length; i++) {
        if (counts.has(section)) u32[at + i] = index * 1000 + i;
        else f32[at + i] = index * 1e6 + i;
      }
    });
    const tag = (section: string, i: number) => sections.findIndex(([s]) => s === section) * (counts.has(section) ? 1000 : 1e6) + i;
    const stats = layerStatsFromTotals(spec, layout, words);
    expect(stats.expertTokens[E - 1]).toBe(tag('expertTokens', E - 1));
    expect(stats.coactivation[E + 2]).toBe(tag('coactivation', E + 2));
    expect(stats.routerEntropyHist[3]).toBe(tag('routerHistograms', 3));
    expect(stats.routerMarginHist[3]).toBe(tag('routerHistograms', HISTOGRAM_BINS + 3));
    expect(stats.expertGateSum[1]).toBe(tag('expertGateSum', 1));
    expect(stats.expertOutputNormGatedSum[2]).toBe(tag('expertOutputNormGatedSum', 2));
    expect(stats.experts[2].inputSqNorm[5]).toBe(tag('expertInput', 2 * H + 5));
    expect(stats.experts[2].inputSqNormGated[5]).toBe(tag('expertInput', E * H + 2 * H + 5));
    expect(stats.experts[E - 1].interSqNorm[I - 1]).toBe(tag('expertInter', E * I - 1));
    expect(stats.experts[E - 1].interSqNormGated[I - 1]).toBe(tag('expertInter', 2 * E * I - 1));
    expect(stats.attnInputSqNorm[7]).toBe(tag('attnInput', 7));
    expect(stats.attnOInputSqNorm[7]).toBe(tag('attnOInput', 7));
    if (spec.sharedExpert) {
      expect(spec.sharedExpert.gated).toBe(true);
      expect(stats.shared!.inputSqNormGated[4]).toBe(tag('sharedInput', H + 4));
      expect(stats.shared!.interSqNormGated[4]).toBe(tag('sharedInter', S + 4));
      expect(stats.shared!.interSqNorm[4]).toBe(tag('sharedInter', 4));
    } else {
      expect(stats.shared).toBeNull();
    }
  });
});
