/**
 * Expert criteria side by side (src/engine/calibration/expert-criteria.ts) and where two prunings disagree
 * (src/engine/prune/mask-compare.ts), as the data of heatmaps (drawHeatmap in heatmap.ts draws them: data in, SVG out).
 * - ranks: criteria x experts, each cell the expert's rank under that criterion (1 = most worth keeping);
 * - agreement: criteria x criteria, Spearman's rank correlation;
 * - disagreement: MoE layers x experts, the share of pruned weights on which two mask sets differ.
 */
import { CRITERIA, CRITERION_LABELS, type CriterionName, type LayerCriteria } from '../../engine/calibration/expert-criteria.ts';
import type { ExpertDisagreement } from '../../engine/prune/mask-compare.ts';
import { percent } from './common.ts';
import type { HeatmapData } from './heatmap.ts';

const SHORT_LABELS: Record<CriterionName, string> = { frequency: 'freq.', gate: 'gate', reap: 'REAP', ean: 'EAN', meanNorm: 'norm' };

/** An expert's column label: its index, marked * for a super expert and ! for too few calibration tokens. */
export function expertLabel(e: number, superExperts: readonly number[], lowCoverage: readonly number[]): string {
  return `${e}${superExperts.includes(e) ? '*' : ''}${lowCoverage.includes(e) ? '!' : ''}`;
}

/** Criteria x experts: ranks (darker = ranked higher, i.e. rank 1). */
export function criteriaRanksData(layer: number, criteria: LayerCriteria, superExperts: readonly number[], lowCoverage: readonly number[]): HeatmapData {
  const E = criteria.ranks.frequency.length;
  return {
    title: `Layer ${layer}: each expert's rank under each criterion (1 = most worth keeping)`,
    rowLabels: CRITERIA.map((c) => CRITERION_LABELS[c]),
    columnLabels: Array.from({ length: E }, (_, e) => expertLabel(e, superExperts, lowCoverage)),
    // Colour by closeness to the top: E + 1 - rank, so rank 1 is the darkest.
    values: CRITERIA.map((c) => criteria.ranks[c].map((rank) => E + 1 - rank)),
    xTitle: 'expert (* super expert, ! few calibration tokens)',
    yTitle: 'criterion',
    valueTitle: 'closeness to rank 1',
    domain: [1, E],
    format: (v) => `#${E + 1 - v}`,
    describe: (r, c) =>
      `layer ${layer}, expert ${c}: rank ${criteria.ranks[CRITERIA[r]][c]} of ${E} by ${CRITERION_LABELS[CRITERIA[r]]} (value ${criteria.values[CRITERIA[r]][c].toPrecision(4)})`,
  };
}

/** Criteria x criteria: Spearman's rho (NaN, shown grey, where a criterion is constant). */
export function criteriaAgreementData(layer: number, criteria: LayerCriteria): HeatmapData {
  const labels = CRITERIA.map((c) => CRITERION_LABELS[c]);
  return {
    title: `Layer ${layer}: rank correlation between criteria (Spearman's rho)`,
    rowLabels: labels,
    // Short column labels: the full ones overlap under cells a few dozen pixels wide.
    columnLabels: CRITERIA.map((c) => SHORT_LABELS[c]),
    values: criteria.spearman,
    xTitle: 'criterion',
    yTitle: 'criterion',
    valueTitle: "Spearman's rho",
    domain: [-1, 1],
    format: (v) => v.toFixed(2),
    describe: (r, c, v) => `${labels[r]} vs ${labels[c]}: rho ${Number.isFinite(v) ? v.toFixed(3) : 'undefined (a constant criterion)'}`,
  };
}

/** MoE layers x experts: disagreement of two mask sets (|P_A xor P_B| / (|P_A| + |P_B|)). */
export function disagreementData(experts: readonly ExpertDisagreement[], names: [string, string]): HeatmapData {
  const layers = [...new Set(experts.map((x) => x.layer))].sort((a, b) => a - b);
  const E = Math.max(0, ...experts.map((x) => x.expert + 1));
  const cell = (l: number, e: number) => experts.find((x) => x.layer === l && x.expert === e);
  return {
    title: `Where ${names[0]} and ${names[1]} prune different weights`,
    rowLabels: layers.map((l) => `layer ${l}`),
    columnLabels: Array.from({ length: E }, (_, e) => `${e}`),
    values: layers.map((l) => Array.from({ length: E }, (_, e) => cell(l, e)?.disagreement ?? NaN)),
    xTitle: 'expert',
    yTitle: 'MoE layer',
    valueTitle: 'of pruned weights differ',
    domain: [0, 1],
    format: (v) => percent(v),
    describe: (r, c, v) => {
      const x = cell(layers[r], c);
      return x
        ? `layer ${x.layer}, expert ${x.expert}: ${percent(v, 2)} disagree (${x.onlyA} pruned only by ${names[0]}, ${x.onlyB} only by ${names[1]}, ${x.both} by both)`
        : `layer ${layers[r]}, expert ${c}: not compared`;
    },
  };
}
