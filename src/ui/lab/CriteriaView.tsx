import { useCallback, useState } from 'react';
import type { CalibrationSummary } from '../../api/lab.ts';
import { MIN_EXPERT_TOKENS, SUPER_EXPERT_FACTOR } from '../../engine/calibration/expert-criteria.ts';
import { Chart } from '../charts/Chart.tsx';
import { criteriaAgreementData, criteriaRanksData } from '../charts/criteria.ts';
import { drawHeatmap } from '../charts/heatmap.ts';

/**
 * What the calibration says about each expert beyond its load: a coverage warning for experts that got too few
 * tokens (their statistics are unreliable), super experts (Su et al. 2025), and the expert-ranking criteria side by
 * side with their rank correlation, one MoE layer at a time.
 */
export function CriteriaView({ summary }: { summary: CalibrationSummary }) {
  const [index, setIndex] = useState(0);
  const layer = summary.layers[Math.min(index, summary.layers.length - 1)];
  const drawRanks = useCallback(
    (onHover: (text: string | null) => void) =>
      drawHeatmap(criteriaRanksData(layer.layer, layer.criteria, layer.superExperts, layer.lowCoverageExperts), onHover),
    [layer],
  );
  const drawAgreement = useCallback(
    (onHover: (text: string | null) => void) => drawHeatmap(criteriaAgreementData(layer.layer, layer.criteria), onHover),
    [layer],
  );
  if (!layer) return null;
  const lowCoverage = summary.layers.filter((l) => l.lowCoverageExperts.length);
  const supers = summary.layers.filter((l) => l.superExperts.length);
  return (
    <div className="subsection" role="region" aria-label="Expert criteria">
      {lowCoverage.length > 0 && (
        <p className="hint warn" role="note" aria-label="Calibration coverage warning">
          Too few calibration tokens for some experts (fewer than {MIN_EXPERT_TOKENS}):{' '}
          {lowCoverage
            .map(
              (l) =>
                `layer ${l.layer}: ${l.lowCoverageExperts.map((e) => `expert ${e} (${l.expertTokens[e]} ${l.expertTokens[e] === 1 ? 'token' : 'tokens'})`).join(', ')}`,
            )
            .join('; ')}
          . Their statistics are unreliable, so Wanda, MoE-Pruner and SparseGPT rank their weights on noise: calibrate on more text, or on text that reaches
          them.
        </p>
      )}
      <p aria-label="Super experts">
        {supers.length
          ? `Super experts (largest output more than ${SUPER_EXPERT_FACTOR}× the layer's median, Su et al. 2025): ${supers.map((l) => `layer ${l.layer}: ${l.superExperts.join(', ')}`).join('; ')}.`
          : `No super experts: no expert's largest output is more than ${SUPER_EXPERT_FACTOR}× its layer's median.`}
      </p>
      <label>
        MoE layer{' '}
        <select aria-label="Criteria layer" value={index} onChange={(e) => setIndex(Number(e.target.value))}>
          {summary.layers.map((l, i) => (
            <option key={l.layer} value={i}>
              layer {l.layer}
            </option>
          ))}
        </select>
      </label>
      <Chart
        label="Expert criteria ranks"
        draw={drawRanks}
        caption="Frequency, mean gate and REAP are the expert-dropping criteria; EAN sums each expert's output norm, the last row averages it. Where rows differ, the criteria would drop different experts."
      />
      <Chart label="Criteria rank correlation" draw={drawAgreement} caption="1: two criteria rank the experts alike; 0: unrelated; -1: reversed." />
    </div>
  );
}
