/**
 * Expert criteria side by side, coverage and super experts (src/engine/calibration/expert-criteria.ts) on
 * hand-made statistics: each criterion's definition, ranks with ties to the lower index, Spearman's rho against
 * hand values (ties by average ranks), the coverage threshold and the super-expert rule.
 */
import { describe, expect, it } from 'vitest';
import {
  CRITERIA,
  descendingRanks,
  layerCriteria,
  lowCoverageExperts,
  MIN_EXPERT_TOKENS,
  spearmanCorrelation,
  SUPER_EXPERT_FACTOR,
  superExperts,
} from '../../src/engine/calibration/expert-criteria.ts';
import { emptyLayerStats } from '../../src/engine/calibration/stats.ts';
import { openFixture } from '../helpers/fixtures.ts';

async function stats() {
  const { spec } = await openFixture('mixtral'); // E = 8
  const s = emptyLayerStats(spec);
  s.expertTokens.set([100, 50, 0, 10, 200, 40, 40, 31]);
  s.expertGateSum.set([60, 20, 0, 9, 80, 20, 10, 12]);
  s.expertOutputNormGatedSum.set([30, 20, 0, 2, 50, 8, 8, 6]);
  s.expertOutputNormSum.set([100, 100, 0, 50, 400, 40, 80, 31]);
  s.expertOutputAbsMax.set([2, 3, 0, 2.5, 3, 2, 40, 2.2]);
  return s;
}

describe('expert criteria', () => {
  it('computes the five criteria, ranks them and correlates them', async () => {
    const s = await stats();
    const c = layerCriteria(s, 300);
    expect(c.values.frequency).toEqual([100, 50, 0, 10, 200, 40, 40, 31]);
    expect(c.values.gate[0]).toBeCloseTo(60 / 300, 12);
    expect(c.values.reap[1]).toBeCloseTo(20 / 50, 12);
    expect(c.values.reap[2]).toBe(0);
    expect(c.values.ean).toEqual([100, 100, 0, 50, 400, 40, 80, 31]);
    expect(c.values.meanNorm[6]).toBe(2);
    expect(c.ranks.frequency).toEqual([2, 3, 8, 7, 1, 4, 5, 6]);
    expect(c.spearman).toHaveLength(CRITERIA.length);
    CRITERIA.forEach((_, i) => expect(c.spearman[i][i]).toBeCloseTo(1, 12));
    expect(c.spearman[0][3]).toBeCloseTo(spearmanCorrelation(c.values.frequency, c.values.ean), 12);
  });

  it('ranks ties to the lower index and averages tied ranks in Spearman', () => {
    expect(descendingRanks([1, 3, 3, 0])).toEqual([3, 1, 2, 4]);
    expect(spearmanCorrelation([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearmanCorrelation([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // a = [1,2,3,4] ranks 1..4; b = [1,1,2,3] average ranks [1.5,1.5,3,4]: rho = 4.5 / sqrt(5 * 4.5).
    expect(spearmanCorrelation([1, 2, 3, 4], [1, 1, 2, 3])).toBeCloseTo(4.5 / Math.sqrt(5 * 4.5), 12);
    expect(spearmanCorrelation([1, 1, 1], [1, 2, 3])).toBeNaN();
  });

  it('flags experts under the coverage threshold and super experts above the factor times the median', async () => {
    const s = await stats();
    expect(MIN_EXPERT_TOKENS).toBe(32);
    expect(lowCoverageExperts(s)).toEqual([2, 3, 7]);
    // median of [0, 2, 2, 2.2, 2.5, 3, 3, 40] = 2.35; 40 > SUPER_EXPERT_FACTOR x 2.35.
    expect(SUPER_EXPERT_FACTOR * 2.35).toBeLessThan(40);
    expect(superExperts(s)).toEqual([6]);
    s.expertOutputAbsMax.fill(NaN);
    expect(superExperts(s)).toEqual([]);
  });
});
