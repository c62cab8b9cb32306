/**
 * Neuron pruning's engine parts (src/engine/prune/neurons.ts, src/engine/export/neuron-export.ts, accounting.ts):
 * the count floor(I s), ties to the lower index, non-finite scores kept last, masks <-> structure round trip and its
 * refusals, shrunk tensor shapes and kept runs, the one config key (refused where it also sizes shared experts),
 * the settings refusals and the byte accounting.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expertFfnKey, keptRuns, neuronConfig, neuronTensor } from '../../src/engine/export/neuron-export.ts';
import { parseConfigJson } from '../../src/engine/model/config.ts';
import { isKept } from '../../src/engine/model/keep-mask.ts';
import { countParameters } from '../../src/engine/model/spec.ts';
import { maskBuffers, pruneAccounting } from '../../src/engine/prune/accounting.ts';
import {
  checkNeuronSettings,
  lowestNeurons,
  neuronMasks,
  neuronScores,
  neuronStructureOf,
  neuronsDropped,
  selectNeurons,
} from '../../src/engine/prune/neurons.ts';
import { checkPipelineSettings, pipelineSettings } from '../../src/engine/prune/pipeline-settings.ts';
import { parsePattern } from '../../src/engine/prune/settings.ts';
import { fixtureDir } from '../helpers/fixtures.ts';

const configOf = (name: string) => JSON.parse(readFileSync(join(fixtureDir(name as 'mixtral'), 'config.json'), 'utf8')) as Record<string, unknown>;
const specOf = (name: string) => parseConfigJson('config.json', JSON.stringify(configOf(name)));

describe('neuron selection', () => {
  it('drops floor(I s) per expert, lowest scores first, ties to the lower index, non-finite last', () => {
    expect(neuronsDropped(100, 0.29)).toBe(28);
    expect(neuronsDropped(7, 0.5)).toBe(3);
    const scores = Float64Array.from([5, 1, 1, 1, Infinity, 0.5, 2, 2]);
    expect(lowestNeurons(scores, 0, 8, 3)).toEqual([1, 2, 5]);
    expect(lowestNeurons(scores, 0, 8, 7)).toEqual([0, 1, 2, 3, 5, 6, 7]);
    expect(lowestNeurons(new Float64Array(4), 0, 4, 2)).toEqual([0, 1]);
    expect(selectNeurons(Float64Array.from([3, 2, 1, 0, 0, 1, 2, 3]), 2, 4, 0.5)).toEqual([
      [2, 3],
      [0, 1],
    ]);
  });

  it('scores: magnitude = row and column norms; NaN weights score +inf; wanda needs finite statistics', () => {
    // E = 1, I = 2, H = 2: gate rows 0..1, up rows 2..3 of gate_up [1, 4, 2]; down [1, 2, 2].
    const w = { experts: 1, ffn: 2, hidden: 2, gateUp: Float32Array.from([1, 0, 0, 2, 0, 1, 3, 0]), down: Float32Array.from([1, NaN, 2, 0]) };
    const magnitude = neuronScores('magnitude', w, null, 0, 0);
    expect(magnitude[0]).toBeCloseTo(Math.sqrt(1 + 1 + 1 + 4), 12);
    expect(magnitude[1]).toBe(Infinity);
    const stats = { experts: [{ interSqNorm: Float32Array.from([4, -1]), interSqNormGated: Float32Array.from([9, 1]) }] } as never;
    expect(() => neuronScores('wanda', w, stats, 3, 0)).toThrow(/layers\.3\.experts\.0\.inter_sqnorm\[1\] = -1/);
    expect(neuronScores('moe-pruner', w, stats, 3, 0)[0]).toBeCloseTo(Math.sqrt(5) * 3, 12);
    expect(() => neuronScores('moe-pruner', w, null, 0, 0)).toThrow(/need calibration statistics/);
    const random = neuronScores('random', w, null, 0, 7);
    expect(random).toEqual(neuronScores('random', w, null, 0, 7));
    expect(random).not.toEqual(neuronScores('random', w, null, 0, 8));
  });
});

describe('neuron masks and structure', () => {
  const spec = { ...specOf('mixtral'), numExperts: 2, expertFfnSize: 4, hiddenSize: 3, moeLayers: [true] };
  const dropped = [
    [1, 3],
    [0, 2],
  ];
  const bits = neuronMasks(2, 4, 3, dropped);

  it('masks whole gate rows, up rows and down columns; the structure reads them back', () => {
    expect(isKept(bits.gateUp, 1 * 3)).toBe(false); // expert 0 gate row 1
    expect(isKept(bits.gateUp, (4 + 1) * 3 + 2)).toBe(false); // expert 0 up row 1
    expect(isKept(bits.gateUp, 0)).toBe(true);
    expect(isKept(bits.down, 0 * 4 + 3)).toBe(false); // expert 0, h 0, column 3
    expect(isKept(bits.down, 12 + 2 * 4 + 0)).toBe(false); // expert 1, h 2, column 0
    const structure = neuronStructureOf(spec, { layers: [{ matrices: { 'experts.gate_up': bits.gateUp, 'experts.down': bits.down } }] });
    expect(structure.ffn).toBe(2);
    expect(structure.kept.get(0)!.map((k) => Array.from(k))).toEqual([
      [1, 0, 1, 0],
      [0, 1, 0, 1],
    ]);
  });

  it('refuses masks that are not whole neurons', () => {
    const partial = bits.gateUp.slice();
    partial[0] &= ~1;
    expect(() => neuronStructureOf(spec, { layers: [{ matrices: { 'experts.gate_up': partial, 'experts.down': bits.down } }] })).toThrow(
      /row 0 is partly pruned/,
    );
    const uneven = neuronMasks(2, 4, 3, [[1], [0, 2]]);
    expect(() => neuronStructureOf(spec, { layers: [{ matrices: { 'experts.gate_up': uneven.gateUp, 'experts.down': uneven.down } }] })).toThrow(
      /keeps 2 neurons, others 3/,
    );
    expect(() => neuronStructureOf(spec, { layers: [null] })).toThrow(/no expert masks/);
  });

  it('shrinks per-expert and fused tensors along I and keeps exactly the kept elements', () => {
    const structure = neuronStructureOf(spec, { layers: [{ matrices: { 'experts.gate_up': bits.gateUp, 'experts.down': bits.down } }] });
    const seg = (key: 'experts.gate_up' | 'experts.down', start: number, count: number) => ({
      start: 0,
      count,
      canonical: { layer: 0, key, start },
      expert: null,
    });
    // Expert 1's gate [I, H] = rows 8..11 of gate_up; it keeps neurons 1 and 3.
    const gate = { name: 'w1', shape: [4, 3], segments: [seg('experts.gate_up', 8 * 3, 12)] };
    expect(neuronTensor(gate, spec, structure).shape).toEqual([2, 3]);
    expect(keptRuns(gate.segments[0], spec, structure)).toEqual([
      [3, 3],
      [9, 3],
    ]);
    const fusedDown = { name: 'down_proj', shape: [2, 3, 4], segments: [seg('experts.down', 0, 12), seg('experts.down', 12, 12)] };
    expect(neuronTensor(fusedDown, spec, structure).shape).toEqual([2, 3, 2]);
    expect(keptRuns(fusedDown.segments[0], spec, structure)).toEqual([
      [0, 1],
      [2, 1],
      [4, 1],
      [6, 1],
      [8, 1],
      [10, 1],
    ]);
    const fusedGateUp = { name: 'gate_up_proj', shape: [2, 8, 3], segments: [seg('experts.gate_up', 0, 24), seg('experts.gate_up', 24, 24)] };
    expect(neuronTensor(fusedGateUp, spec, structure).shape).toEqual([2, 4, 3]);
    const router = { name: 'gate', shape: [2, 3], segments: [{ start: 0, count: 6, canonical: null, expert: null }] };
    expect(neuronTensor(router, spec, structure)).toBe(router);
  });
});

describe('config and settings', () => {
  it('sets the family expert FFN size key and nothing else; refuses where the key sizes shared experts', () => {
    const mixtral = configOf('mixtral');
    expect(expertFfnKey(mixtral)).toBe('intermediate_size');
    expect(neuronConfig(mixtral, specOf('mixtral'), 96)).toEqual({ ...mixtral, intermediate_size: 96 });
    const qwen = configOf('qwen2_moe');
    expect(expertFfnKey(qwen)).toBe('moe_intermediate_size');
    expect(neuronConfig(qwen, specOf('qwen2_moe'), 8)).toEqual({ ...qwen, moe_intermediate_size: 8 });
    const deepseek = configOf('deepseek_v2');
    expect(() => neuronConfig(deepseek, specOf('deepseek_v2'), 8)).toThrow(/would change more of this deepseek_v2 model/);
  });

  it('refuses what neuron pruning cannot express, one sentence each', () => {
    const spec = specOf('mixtral');
    const check = (patch: Parameters<typeof pipelineSettings>[0]) => () => checkPipelineSettings(pipelineSettings({ structure: 'neurons', ...patch }), spec);
    expect(check({ method: 'wanda' })).not.toThrow();
    expect(check({ allocation: 'owl' })).toThrow(/OWL would give each layer its own expert FFN size/);
    expect(check({ pattern: parsePattern('2:4') })).toThrow(/N:M pattern does not apply/);
    expect(check({ method: 'sparsegpt' })).toThrow(/has no neuron form/);
    expect(check({ expertsDrop: 2 })).toThrow(/expert dropping/);
    expect(check({ targets: ['experts', 'attention'] })).toThrow(/routed experts only/);
    expect(check({ group: 'layer' })).toThrow(/group 'layer' does not apply/);
    expect(() => checkNeuronSettings(pipelineSettings({ structure: 'neurons' }), specOf('deepseek_v2'))).toThrow(/shared experts/);
  });

  it("accounting: masks save nothing, neurons save 3 H (I - I') bytes per expert and layer", () => {
    const spec = specOf('mixtral');
    const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
    const L = spec.moeLayers.filter(Boolean).length;
    const masksOnly = pruneAccounting(spec, spec, 4, [{ key: 'experts.gate_up', bytes: 100 }]);
    expect(masksOnly.pruned).toEqual(masksOnly.dense);
    expect(masksOnly.masksInLab.gpuBytes).toBe(masksOnly.dense.gpuBytes + 100);
    const keptFfn = I / 2;
    const a = pruneAccounting(spec, { ...spec, expertFfnSize: keptFfn }, 4, []);
    expect(a.dense.diskBytes).toBe(countParameters(spec).total * 4);
    expect(a.dense.diskBytes - a.pruned.diskBytes).toBe(3 * H * (I - keptFfn) * E * L * 4);
    expect(a.dense.readPerTokenBytes - a.pruned.readPerTokenBytes).toBe(3 * H * (I - keptFfn) * spec.topK * L * 4);
    expect(maskBuffers({ layers: [null, { matrices: { 'experts.down': new Uint32Array(3) }, expertEnabled: new Uint8Array(8) }] })).toEqual([
      { key: 'experts.down', bytes: 12 },
      { key: 'expert_enabled', bytes: 32 },
    ]);
  });
});
