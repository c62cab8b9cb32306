import { useState } from 'react';
import * as d3 from 'd3';
import type { TokenLossReport } from '../../api/lab.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { NumberField } from './NumberField.tsx';
import { TaskView, useRunning } from './TaskView.tsx';
import { TokenText } from './TokenText.tsx';

/** Colour of a loss change: red where pruning made a token harder, blue where easier, white where equal (±2 nats saturates). */
const differenceColor = d3.scaleDiverging(d3.interpolateRdBu).domain([2, 0, -2]).clamp(true);
/** Colour of a dense loss: darker is harder (0-8 nats). */
const lossColor = d3.scaleSequential(d3.interpolateOranges).domain([0, 8]).clamp(true);

function describe(report: TokenLossReport, t: number): string {
  const token = JSON.stringify(report.tokenTexts[t]);
  if (t === 0) return `token 0 ${token}: the first token is not predicted`;
  const dense = report.dense[t];
  if (!report.pruned) return `token ${t} ${token}: loss ${dense.toFixed(4)} nats (probability ${Math.exp(-dense).toPrecision(3)})`;
  const pruned = report.pruned[t];
  return `token ${t} ${token}: dense loss ${dense.toFixed(4)}, pruned ${pruned.toFixed(4)} nats (${pruned - dense >= 0 ? '+' : ''}${(pruned - dense).toFixed(4)})`;
}

/** The evaluation text's first tokens coloured by how much harder (or easier) each got after pruning. */
export function TokenLossView() {
  const report = useLab((s) => s.tasks.tokenLoss.result);
  const canRead = useLab((s) => s.model?.tokenizer ?? false);
  const running = useRunning('tokenLoss');
  const { tokenLoss } = useLabActions();
  const [tokens, setTokens] = useState(128);
  return (
    <div className="subsection" role="region" aria-label="Per-token loss">
      <h3>Which tokens got harder</h3>
      <div className="row">
        <NumberField label="Tokens to show" value={tokens} min={2} max={1024} onCommit={setTokens} disabled={running} />
        <button type="button" disabled={!canRead || running} onClick={() => void tokenLoss(tokens)}>
          Show per-token loss
        </button>
      </div>
      <TaskView task="tokenLoss" label="Per-token loss" />
      {report && (
        <TokenText
          label="Per-token loss view"
          tokens={report.tokenTexts}
          before={
            <p className="hint">
              {report.pruned
                ? 'Colour: pruned minus dense loss — red got harder, blue got easier (saturates at ±2 nats).'
                : 'Colour: the dense model’s loss (darker is harder). Prune to compare.'}
            </p>
          }
          mark={(t) => {
            const value = report.pruned ? report.pruned[t] - report.dense[t] : report.dense[t];
            return {
              background: Number.isFinite(value) ? (report.pruned ? differenceColor(value) : lossColor(value)) : '#eee',
              words: describe(report, t),
            };
          }}
          idle="Point at a token for its loss."
        />
      )}
    </div>
  );
}
