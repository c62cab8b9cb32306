/**
 * The pure decisions of the pruning pipeline, against hand computations: expert-drop criteria and selection (ties
 * to the lower index, r <= E - K, r / n_group per routing group), OWL's outlier ratio and layer allocation (the global target kept when weighted
 * by prunable weights), the layer plan's canonical offsets, the achieved-sparsity report, and the settings' errors.
 */
import { describe, expect, it } from 'vitest';
import { emptyLayerStats } from '../../src/engine/calibration/stats.ts';
import { expertCriterionValues, expertEnabledVector, lowestExperts, lowestExpertsPerGroup } from '../../src/engine/prune/expert-drop.ts';
import { canonicalElements, droppedExpertPieces, layerPieces, targetKeys } from '../../src/engine/prune/layer-plan.ts';
import { layerOutliers, owlLayerSparsities, owlScoreMethod } from '../../src/engine/prune/owl.ts';
import { allocate, planDrop, uniformSparsity } from '../../src/engine/prune/pipeline-plan.ts';
import { checkPipelineSettings, needsCalibration, pipelineSettings } from '../../src/engine/prune/pipeline-settings.ts';
import { sparsityReport } from '../../src/engine/prune/report.ts';
import { parsePattern, PruneRequestError } from '../../src/engine/prune/settings.ts';
import { openFixture } from '../helpers/fixtures.ts';

describe('expert dropping', () => {
  const mixtral = openFixture('mixtral');

  it('criteria: frequency = tokens, gate = gate sum / T, REAP = mean over routed tokens of g * ||out||', async () => {
    const stats = emptyLayerStats((await mixtral).spec);
    stats.expertTokens.set([10, 0, 4, 4, 8, 2, 6, 6]);
    stats.expertGateSum.set([5, 0, 3, 1, 4, 2, 2, 2]);
    stats.expertOutputNormGatedSum.set([20, 0, 12, 2, 8, 3, 3, 12]);
    expect(Array.from(expertCriterionValues(stats, 'frequency', 24))).toEqual([10, 0, 4, 4, 8, 2, 6, 6]);
    expect(Array.from(expertCriterionValues(stats, 'gate', 24))).toEqual([5 / 24, 0, 3 / 24, 1 / 24, 4 / 24, 2 / 24, 2 / 24, 2 / 24]);
    // REAP: 20/10, 0 (no tokens), 12/4, 2/4, 8/8, 3/2, 3/6, 12/6.
    expect(Array.from(expertCriterionValues(stats, 'reap', 24))).toEqual([2, 0, 3, 0.5, 1, 1.5, 0.5, 2]);
    // Lowest first, ties to the lower index, returned in index order.
    expect(lowestExperts(expertCriterionValues(stats, 'frequency', 24), 3)).toEqual([1, 2, 5]);
    expect(lowestExperts(expertCriterionValues(stats, 'gate', 24), 3)).toEqual([1, 3, 5]);
    expect(lowestExperts(expertCriterionValues(stats, 'reap', 24), 3)).toEqual([1, 3, 6]);
    expect(lowestExperts([1, 1, 1, 1], 2)).toEqual([0, 1]);
    expect(Array.from(expertEnabledVector(5, [1, 3]))).toEqual([1, 0, 1, 0, 1]);
  });

  it('planDrop uses the layer statistics and needs them; r > E - K is refused', async () => {
    const { spec } = await mixtral;
    const stats = emptyLayerStats(spec);
    stats.expertTokens.set([5, 1, 7, 3, 9, 2, 8, 4]);
    const settings = pipelineSettings({ method: 'magnitude', sparsity: 0, expertsDrop: 2 });
    expect(planDrop(settings, 0, stats, 39, spec)).toEqual({ dropped: [1, 5], criterionValues: [5, 1, 7, 3, 9, 2, 8, 4] });
    expect(() => planDrop(settings, 3, null, 0, spec)).toThrow(/layer 3: dropping experts needs its calibration statistics/);
    checkPipelineSettings(pipelineSettings({ expertsDrop: 6 }), spec); // E - K = 8 - 2
    expect(() => checkPipelineSettings(pipelineSettings({ expertsDrop: 7 }), spec)).toThrow(
      /cannot drop 7 of 8 experts per layer: at least top-k = 2 must remain \(r <= 6\)/,
    );
  });

  it('group-limited routing: r / n_group from each group, ranked within it; uneven or starving drops refused', async () => {
    const { spec } = await openFixture('deepseek_v3'); // 16 experts in 4 groups (top-2-sum scores), 2 groups kept, K = 2
    const values = [5, 1, 7, 3, /**/ 9, 2, 8, 4, /**/ 0, 6, 6, 6, /**/ 3, 3, 1, 1];
    expect(lowestExpertsPerGroup(values, 4, 4)).toEqual([1, 5, 8, 14]);
    expect(lowestExpertsPerGroup(values, 8, 4)).toEqual([1, 3, 5, 7, 8, 9, 14, 15]);
    expect(lowestExpertsPerGroup(values, 2, 1)).toEqual(lowestExperts(values, 2));
    expect(() => lowestExpertsPerGroup(values, 2, 4)).toThrow(/cannot drop 2 of 16 experts evenly from 4 routing groups/);
    const stats = emptyLayerStats(spec);
    stats.expertTokens.set(values);
    const settings = pipelineSettings({ method: 'magnitude', sparsity: 0, expertsDrop: 4 });
    expect(planDrop(settings, 1, stats, 40, spec).dropped).toEqual([1, 5, 8, 14]);
    checkPipelineSettings(settings, spec);
    checkPipelineSettings(pipelineSettings({ expertsDrop: 8 }), spec); // 2 left per group: enough for the top-2 sum
    expect(() => checkPipelineSettings(pipelineSettings({ expertsDrop: 6 }), spec)).toThrow(
      /cannot drop 6 experts under group-limited routing \(n_group 4\): .* drop a multiple of 4/,
    );
    expect(() => checkPipelineSettings(pipelineSettings({ expertsDrop: 12 }), spec)).toThrow(/each routing group would keep 1, its group score needs 2/);
  });
});

describe('OWL', () => {
  it('outlier ratio: scores above M x the layer mean, over all matrices of the layer', () => {
    // magnitude scores |w|: mean of [1,1,1,1,1,1,1,1,1,11] = 2, threshold 10 -> one outlier of 10.
    const weights = Float32Array.from([1, -1, 1, 1, 1, 1, -1, 1, 1, -11]);
    const one = layerOutliers(
      'magnitude',
      [
        { weights: weights.subarray(0, 5), factors: null, cols: 5 },
        { weights: weights.subarray(5), factors: null, cols: 5 },
      ],
      5,
    );
    expect(one).toEqual({ count: 10, mean: 2, outliers: 1, ratio: 0.1 });
    // wanda scores |w| * c_j: c = [1, 4] makes column 1 of [[1, 1], [1, 1], [1, 1]] score 4; mean 2.5 -> none above 5 x 2.5,
    // but above 1.5 x 2.5 = 3.75: the three column-1 scores.
    const wanda = layerOutliers('wanda', [{ weights: new Float32Array(6).fill(1), factors: Float32Array.from([1, 4]), cols: 2 }], 1.5);
    expect(wanda).toEqual({ count: 6, mean: 2.5, outliers: 3, ratio: 0.5 });
    expect(owlScoreMethod('random')).toBe('magnitude');
    expect(owlScoreMethod('sparsegpt')).toBe('wanda');
    expect(owlScoreMethod('moe-pruner')).toBe('moe-pruner');
  });

  it('layer sparsities: s + mean(a) - a_l with a = min-max(D) x 2 lambda, the weighted mean equal to the target', () => {
    // D = [0.01, 0.03, 0.02] -> a = [0, 0.16, 0.08]; equal weights: mean 0.08 -> [0.58, 0.42, 0.50].
    const equal = owlLayerSparsities([0.01, 0.03, 0.02], [100, 100, 100], 0.5, 0.08);
    expect(equal.map((s) => +s.toFixed(12))).toEqual([0.58, 0.42, 0.5]);
    // Weights [2, 1, 1]: weighted mean of a = (0 + 0.16 + 0.08) / 4 = 0.06 -> [0.56, 0.40, 0.48]; (2*0.56 + 0.40 + 0.48) / 4 = 0.5.
    const weighted = owlLayerSparsities([0.01, 0.03, 0.02], [200, 100, 100], 0.5, 0.08);
    expect(weighted.map((s) => +s.toFixed(12))).toEqual([0.56, 0.4, 0.48]);
    expect((2 * weighted[0] + weighted[1] + weighted[2]) / 4).toBeCloseTo(0.5, 14);
    expect(owlLayerSparsities([0.2, 0.2], [1, 1], 0.7, 0.08)).toEqual([0.7, 0.7]);
    expect(() => owlLayerSparsities([0, 1], [1, 1], 0.9, 0.08, [4, 9])).toThrow(/OWL gives layer 4 sparsity 0\.9800, outside 0\.\.0\.95/);
  });

  it('allocate: uniform, N:M, and OWL over the layer plan with dropped experts left out', async () => {
    const { spec } = await openFixture('mixtral');
    expect(uniformSparsity(pipelineSettings({ pattern: parsePattern('2:4') }))).toBe(0.5);
    const uniform = await allocate(spec, pipelineSettings({ sparsity: 0.3 }), new Map(), async () => {
      throw new Error('not asked');
    });
    expect([...uniform.targets]).toEqual([
      [0, 0.3],
      [1, 0.3],
    ]);
    const seen: [number, number][] = [];
    const owl = await allocate(
      spec,
      pipelineSettings({ sparsity: 0.5, allocation: 'owl', expertsDrop: 2 }),
      new Map([
        [0, [1, 2]],
        [1, [0, 7]],
      ]),
      async (l, pieces) => {
        seen.push([l, pieces.length]);
        return { count: 1, mean: 1, outliers: 0, ratio: l === 0 ? 0.01 : 0.03 };
      },
    );
    expect(seen).toEqual([
      [0, 18],
      [1, 18],
    ]); // 6 kept experts x gate, up, down
    expect([...owl.targets].map(([l, s]) => [l, +s.toFixed(12)])).toEqual([
      [0, 0.58],
      [1, 0.42],
    ]);
    expect([...owl.outlierRatios!]).toEqual([
      [0, 0.01],
      [1, 0.03],
    ]);
  });
});

describe('layer plan', () => {
  it('pieces sit at their canonical offsets; attention and the shared expert form their own groups', async () => {
    const { spec } = await openFixture('qwen2_moe');
    const { expertFfnSize: I, hiddenSize: H } = spec;
    const S = spec.sharedExpert!.ffnSize;
    const pieces = layerPieces(spec, 1, ['experts', 'attention', 'shared'], new Set([2]));
    const byLabel = new Map(pieces.map((p) => [p.label, p]));
    expect(byLabel.has('layers.1.experts.2.gate')).toBe(false);
    expect(byLabel.get('layers.1.experts.3.up')).toMatchObject({ key: 'experts.gate_up', elementOffset: 7 * I * H, rows: I, cols: H, layerGroup: 0 });
    expect(byLabel.get('layers.1.experts.3.down')).toMatchObject({
      key: 'experts.down',
      elementOffset: 3 * H * I,
      rows: H,
      cols: I,
      statisticName: 'layers.1.experts.3.inter_sqnorm',
    });
    expect(byLabel.get('layers.1.attn.o')).toMatchObject({
      key: 'attn.o',
      rows: H,
      cols: spec.numHeads * spec.headDim,
      layerGroup: 1,
      statisticName: 'layers.1.attn.o_input_sqnorm',
    });
    expect(byLabel.get('layers.1.shared.up')).toMatchObject({ key: 'shared.gate_up', elementOffset: S * H, layerGroup: 2 });
    // Streams do not depend on what else is pruned.
    expect(layerPieces(spec, 1, ['experts']).find((p) => p.label === 'layers.1.experts.3.up')!.randomStream).toBe(
      byLabel.get('layers.1.experts.3.up')!.randomStream,
    );
    expect(droppedExpertPieces(spec, 1, [2]).map((p) => p.label)).toEqual(['layers.1.experts.2.gate', 'layers.1.experts.2.up', 'layers.1.experts.2.down']);
    expect(targetKeys(spec, 0, ['shared', 'attention'])).toEqual(['attn.q', 'attn.k', 'attn.v', 'attn.o', 'shared.gate_up', 'shared.down']);
    expect(canonicalElements(spec, 'shared.gate_up')).toBe(2 * S * H);
  });
});

describe('report', () => {
  it('sums kept counts per matrix, layer, expert and overall; dropped experts count as pruned', async () => {
    const { spec } = await openFixture('mixtral');
    const { expertFfnSize: I, hiddenSize: H } = spec;
    const kept = layerPieces(spec, 0, ['experts'], new Set([5]));
    const dropped = droppedExpertPieces(spec, 0, [5]);
    const counts = [
      ...kept.map((piece, i) => ({ piece, kept: i === 0 ? I * H : (I * H) / 2, dropped: false })),
      ...dropped.map((piece) => ({ piece, kept: 0, dropped: true })),
    ];
    const report = sparsityReport(counts, [{ layer: 0, target: 0.5, droppedExperts: [5] }]);
    const total = 8 * 3 * I * H;
    const pruned = (21 - 1) * ((I * H) / 2) + 3 * I * H; // 21 kept pieces, the first dense; the dropped expert whole
    expect(report.overall).toEqual({ weights: total, pruned, sparsity: pruned / total });
    expect(report.layers).toEqual([{ layer: 0, target: 0.5, droppedExperts: [5], weights: total, pruned, sparsity: pruned / total }]);
    expect(report.experts.find((x) => x.expert === 5)).toEqual({ layer: 0, expert: 5, dropped: true, weights: 3 * I * H, pruned: 3 * I * H, sparsity: 1 });
    expect(report.experts.find((x) => x.expert === 0)).toMatchObject({ pruned: I * H, sparsity: 1 / 3 }); // gate dense, up and down half
    expect(report.matrices[0]).toMatchObject({ name: 'layers.0.experts.0.gate', pruned: 0, sparsity: 0, expert: 0, projection: 'gate' });
  });
});

describe('settings', () => {
  it('refuses what cannot run, naming the value', async () => {
    const { spec } = await openFixture('mixtral');
    const qwen = (await openFixture('qwen2_moe')).spec;
    const cases: [Parameters<typeof pipelineSettings>[0], RegExp][] = [
      [{ targets: [] }, /no targets/],
      [{ targets: ['shared'] }, /this mixtral model has no shared expert/],
      [{ targets: ['experts', 'experts'] }, /list one twice/],
      [{ allocation: 'owl', pattern: parsePattern('2:4') }, /OWL allocates unstructured sparsity/],
      [{ allocation: 'owl', owl: { lambda: 0.7, outlierFactor: 5 } }, /lambda 0\.7 is outside/],
      [{ method: 'sparsegpt', group: 'layer' }, /group 'layer' does not apply/],
      [{ method: 'sparsegpt', targets: ['experts', 'attention'] }, /sparsegpt prunes expert FFNs only/],
      [{ method: 'sparsegpt', mode: 'sequential', expertsDrop: 1 }, /dense mode only/],
      [{ method: 'sparsegpt', sparseGpt: { blockSize: 0, damp: 0.01 } }, /block size 0/],
      [{ sparsity: 0.99 }, /sparsity 0\.99 is outside/],
      [{ expertCriterion: 'size' as never }, /unknown expert criterion "size"/],
    ];
    for (const [patch, message] of cases) expect(() => checkPipelineSettings(pipelineSettings(patch), spec), String(message)).toThrow(message);
    // SparseGPT's default targets on a model with a shared expert: the routed experts alone; the shared one when asked.
    expect(() => checkPipelineSettings(pipelineSettings({ method: 'sparsegpt' }), qwen)).not.toThrow();
    expect(() => checkPipelineSettings(pipelineSettings({ method: 'sparsegpt', targets: ['experts', 'shared'] }), qwen)).not.toThrow();
    expect(() => checkPipelineSettings(pipelineSettings({}), spec)).not.toThrow(PruneRequestError);
    expect(needsCalibration(pipelineSettings({ method: 'magnitude' }))).toBe(false);
    expect(needsCalibration(pipelineSettings({ method: 'random', expertsDrop: 1 }))).toBe(true);
    expect(needsCalibration(pipelineSettings({ method: 'wanda', sparsity: 0 }))).toBe(false);
  });
});
