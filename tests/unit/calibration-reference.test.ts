/**
 * Calibration statistics (CPU reference) against an independent computation from transformers' own MoE inputs
 * (tests/fixtures/hf-tiny: layers.{i}.moe_input and router logits), plus sampling, file round trip and the
 * sequential mode with a synthetic mask.
 */
import { describe, expect, it } from 'vitest';
import { referenceCalibrationStats } from '../../src/engine/reference/calibration.ts';
import { sampleWindows, windowsFromIds } from '../../src/engine/calibration/sampling.ts';
import { statsFromSafetensors, statsToSafetensors, type LayerStats } from '../../src/engine/calibration/stats.ts';
import { loadSummary } from '../../src/engine/calibration/router-health.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { allKeptMask, type LayerMasks } from '../../src/engine/model/mask-set.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { independentStats } from '../helpers/calibration-independent.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES, FIXTURES_B, openFixture, readFixtureReference } from '../helpers/fixtures.ts';

describe.each([...FIXTURES, ...FIXTURES_B])('calibration statistics (reference): %s', (name) => {
  it('equal an independent computation from the fixture MoE inputs (1e-3 relative)', async () => {
    const checkpoint = await openFixture(name);
    const w = await loadReferenceWeights(checkpoint);
    const ref = await readFixtureReference(name);
    const { stats } = referenceCalibrationStats(w, [ref.inputIds]);
    expect(stats.tokens).toBe(ref.inputIds.length);
    for (let l = 0; l < checkpoint.spec.numLayers; l++) {
      if (!checkpoint.spec.moeLayers[l]) continue; // set b's dense first layer
      const s = stats.layers[l]!;
      const direct = independentStats(w, ref, l);
      const tol = { atol: 1e-6, rtol: 1e-3 };
      expectClose(s.expertTokens, direct.tokens, { ...tol, label: `layer ${l} expert_tokens` });
      for (let e = 0; e < checkpoint.spec.numExperts; e++) {
        expectClose(s.experts[e].inputSqNorm, direct.input[e], { ...tol, label: `layer ${l} expert ${e} input_sqnorm` });
        expectClose(s.experts[e].inputSqNormGated, direct.inputGated[e], { ...tol, label: `layer ${l} expert ${e} input_sqnorm_gated` });
        expectClose(s.experts[e].interSqNorm, direct.inter[e], { ...tol, label: `layer ${l} expert ${e} inter_sqnorm` });
        expectClose(s.experts[e].interSqNormGated, direct.interGated[e], { ...tol, label: `layer ${l} expert ${e} inter_sqnorm_gated` });
      }
      // Co-activation: symmetric, diagonal = expert tokens, each token contributes K^2.
      const E = checkpoint.spec.numExperts;
      for (let e = 0; e < E; e++) expect(s.coactivation[e * E + e]).toBe(s.expertTokens[e]);
      const total = s.coactivation.reduce((a, b) => a + b, 0);
      expect(total).toBe(ref.inputIds.length * checkpoint.spec.topK ** 2);
      expect(s.routerEntropyHist.reduce((a, b) => a + b, 0)).toBe(ref.inputIds.length);
      const load = loadSummary(s);
      expect(load.loadFraction.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });
});

describe('calibration sets and files', () => {
  it('draws the same windows from (tokens, N, L, seed) every time, and different ones for another seed', () => {
    const tokens = Array.from({ length: 1000 }, (_, i) => i);
    const a = sampleWindows(tokens, { samples: 8, seqLen: 32, seed: 7 });
    expect(sampleWindows(tokens, { samples: 8, seqLen: 32, seed: 7 })).toEqual(a);
    expect(sampleWindows(tokens, { samples: 8, seqLen: 32, seed: 8 })).not.toEqual(a);
    for (const w of a) {
      expect(w).toHaveLength(32);
      expect(w[31] - w[0]).toBe(31); // contiguous
    }
    expect(() => sampleWindows(tokens.slice(0, 10), { samples: 1, seqLen: 32, seed: 0 })).toThrow(/fewer than one window/);
    expect(windowsFromIds([1, 2, 3], 'ids.json')).toEqual([[1, 2, 3]]);
    expect(
      windowsFromIds(
        [
          [1, 2],
          [3, 4],
        ],
        'ids.json',
      ),
    ).toHaveLength(2);
    expect(() => windowsFromIds([[1, 2], [3]], 'ids.json')).toThrow(/same length/);
    expect(() => windowsFromIds({ ids: [1] }, 'ids.json')).toThrow(/ids.json/);
  });

  it('round-trips statistics through the safetensors file with the contract names', async () => {
    const checkpoint = await openFixture('qwen2_moe');
    const w = await loadReferenceWeights(checkpoint);
    const ref = await readFixtureReference('qwen2_moe');
    const { stats } = referenceCalibrationStats(w, [ref.inputIds.slice(0, 40)]);
    const bytes = statsToSafetensors(stats);
    const header = await readSafetensorsHeader(new MemoryByteSource('stats.safetensors', bytes));
    for (const name of [
      'layers.0.expert_tokens',
      'layers.1.expert_gate_sum',
      'layers.0.experts.7.input_sqnorm_gated',
      'layers.1.experts.3.inter_sqnorm',
      'layers.0.coactivation',
      'layers.0.shared.input_sqnorm',
    ]) {
      expect(header.tensors.has(name), name).toBe(true);
    }
    expect(header.tensors.get('layers.0.coactivation')!.shape).toEqual([8, 8]);
    const back = statsFromSafetensors(checkpoint.spec, header, bytes);
    expect(back.tokens).toBe(40);
    expect(Array.from(back.layers[1]!.experts[2].inputSqNormGated)).toEqual(Array.from(stats.layers[1]!.experts[2].inputSqNormGated));
    expect(Array.from(back.layers[0]!.shared!.interSqNorm)).toEqual(Array.from(stats.layers[0]!.shared!.interSqNorm));
  });

  it('sequential mode: layer 0 as dense, later layers see the pruned prefix', async () => {
    const checkpoint = await openFixture('mixtral');
    const w = await loadReferenceWeights(checkpoint);
    const ids = (await readFixtureReference('mixtral')).inputIds.slice(0, 48);
    const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
    // Synthetic mask: prune every other element of layer 0's experts.
    const synthetic = (l: number, _stats: LayerStats): LayerMasks | null => {
      if (l !== 0) return null;
      const gateUp = allKeptMask(E * 2 * I * H);
      const down = allKeptMask(E * H * I);
      for (const m of [gateUp, down]) for (let i = 0; i < m.length; i++) m[i] &= 0x55555555;
      return { matrices: { 'experts.gate_up': gateUp, 'experts.down': down } };
    };
    const dense = referenceCalibrationStats(w, [ids]).stats;
    const sequential = referenceCalibrationStats(w, [ids], { mode: 'sequential', masksForLayer: synthetic });
    expect(Array.from(sequential.stats.layers[0]!.experts[0].inputSqNorm)).toEqual(Array.from(dense.layers[0]!.experts[0].inputSqNorm));
    expect(sequential.masks.layers[0]).not.toBeNull();
    const differs = sequential.stats.layers[1]!.attnInputSqNorm.some((v, j) => Math.abs(v - dense.layers[1]!.attnInputSqNorm[j]) > 1e-6 * Math.abs(v));
    expect(differs).toBe(true);
  });
});
