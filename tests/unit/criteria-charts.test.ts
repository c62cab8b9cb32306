/**
 * The criteria and disagreement heatmaps' data (src/ui/charts/criteria.ts): ranks coloured so rank 1 is darkest,
 * super experts and low-coverage experts marked in the column labels, Spearman's rho on [-1, 1], and the
 * disagreement grid by layer and expert with its counts on hover; drawHeatmap turns each into an SVG.
 */
import { describe, expect, it } from 'vitest';
import { layerCriteria } from '../../src/engine/calibration/expert-criteria.ts';
import { emptyLayerStats } from '../../src/engine/calibration/stats.ts';
import { criteriaAgreementData, criteriaRanksData, disagreementData, expertLabel } from '../../src/ui/charts/criteria.ts';
import { layoutHeatmap } from '../../src/ui/charts/heatmap.ts';
import { openFixture } from '../helpers/fixtures.ts';

describe('criteria charts', () => {
  it('lays out ranks, correlations and disagreement', async () => {
    const { spec } = await openFixture('mixtral');
    const s = emptyLayerStats(spec);
    s.expertTokens.set([100, 50, 0, 10, 200, 40, 40, 31]);
    s.expertGateSum.set([60, 20, 0, 9, 80, 20, 10, 12]);
    s.expertOutputNormGatedSum.set([30, 20, 0, 2, 50, 8, 8, 6]);
    s.expertOutputNormSum.set([100, 100, 0, 50, 400, 40, 80, 31]);
    const criteria = layerCriteria(s, 300);
    expect(expertLabel(3, [3], [3])).toBe('3*!');
    const ranks = criteriaRanksData(0, criteria, [6], [2, 3]);
    expect(ranks.columnLabels).toEqual(['0', '1', '2!', '3!', '4', '5', '6*', '7']);
    expect(ranks.values[0][4]).toBe(8); // expert 4 is rank 1 by frequency: the darkest cell
    expect(ranks.describe!(0, 4, 8)).toMatch(/expert 4: rank 1 of 8 by Frequency/);
    const agreement = criteriaAgreementData(0, criteria);
    expect(agreement.domain).toEqual([-1, 1]);
    expect(layoutHeatmap(agreement).cells).toHaveLength(25);
    const grid = disagreementData(
      [
        { layer: 0, expert: 0, elements: 8, prunedA: 4, prunedB: 4, both: 3, onlyA: 1, onlyB: 1, disagreement: 0.25 },
        { layer: 1, expert: 1, elements: 8, prunedA: 4, prunedB: 4, both: 4, onlyA: 0, onlyB: 0, disagreement: 0 },
      ],
      ['wanda', 'moe-pruner'],
    );
    expect(grid.rowLabels).toEqual(['layer 0', 'layer 1']);
    expect(grid.values).toEqual([
      [0.25, NaN],
      [NaN, 0],
    ]);
    expect(grid.describe!(0, 0, 0.25)).toMatch(/1 pruned only by wanda, 1 only by moe-pruner, 3 by both/);
  });
});
