import type { LayerRoutingView } from '../../api/lab.ts';
import { categoricalColor, textColorOn } from '../charts/common.ts';
import { TokenText, type TokenMark } from './TokenText.tsx';

const NO_EXPERT = 0xffffffff;

/** What one token's routing says, in words. */
export function describeTokenRouting(token: string, t: number, layer: LayerRoutingView, topK: number): string {
  const slots: string[] = [];
  for (let k = 0; k < topK; k++) {
    const e = layer.expertIds[t * topK + k];
    // Grouped-topk routers: the score (sigmoid or softmax) apart from g (renormalized, times the scaling factor).
    const score = layer.scores ? `score ${layer.scores[t * topK + k].toFixed(4)}, ` : '';
    if (e !== NO_EXPERT) slots.push(`expert ${e} (${score}g = ${layer.gates[t * topK + k].toFixed(4)})`);
  }
  let bias = '';
  if (layer.biasChoice) {
    const plain = Array.from(layer.biasChoice.scoreOnly.subarray(t * topK, (t + 1) * topK)).filter((e) => e !== NO_EXPERT);
    const chosen = new Set(Array.from(layer.expertIds.subarray(t * topK, (t + 1) * topK)));
    bias = plain.every((e) => chosen.has(e))
      ? '; the correction bias did not change the choice'
      : `; chosen with the correction bias: the scores alone pick experts ${plain.join(', ')}`;
  }
  return `token ${t} ${JSON.stringify(token)}: ${slots.join(', ') || 'no expert'}${bias}; router entropy ${layer.entropy[t].toFixed(3)} nats, top-1/top-2 margin ${layer.margin[t].toFixed(3)}`;
}

/** The expert with the largest gate of token t (the one whose colour the token takes), or -1. */
function firstExpert(layer: LayerRoutingView, t: number, topK: number): number {
  let best = -1;
  let bestGate = -Infinity;
  for (let k = 0; k < topK; k++) {
    const e = layer.expertIds[t * topK + k];
    if (e !== NO_EXPERT && layer.gates[t * topK + k] > bestGate) {
      best = e;
      bestGate = layer.gates[t * topK + k];
    }
  }
  return best;
}

/**
 * The inspected text with each token coloured by the expert that got the largest gate in one layer; the
 * second choice shows as the underline colour. Pointing at a token gives its experts and weights.
 */
export function TokenRoutingView({ tokens, layer, topK, experts }: { tokens: string[]; layer: LayerRoutingView; topK: number; experts: number }) {
  const legend = (
    <div className="legend-row" aria-hidden="true">
      {Array.from({ length: experts }, (_, e) => (
        <span key={e} className="swatch" style={{ background: categoricalColor(e, experts), color: textColorOn(categoricalColor(e, experts)) }}>
          {e}
        </span>
      ))}
      <span className="hint">colour: the expert with the largest gate; underline: the second</span>
    </div>
  );
  const mark = (t: number): TokenMark => {
    const first = firstExpert(layer, t, topK);
    const second = topK > 1 ? layer.expertIds[t * topK + (layer.expertIds[t * topK] === first ? 1 : 0)] : NO_EXPERT;
    return {
      background: first >= 0 ? categoricalColor(first, experts) : '#ddd',
      underline: second !== NO_EXPERT && second !== undefined ? categoricalColor(second, experts) : undefined,
      words: describeTokenRouting(tokens[t], t, layer, topK),
    };
  };
  return (
    <TokenText
      label={`Tokens coloured by expert, layer ${layer.layer}`}
      tokens={tokens}
      mark={mark}
      before={legend}
      idle="Point at a token for its experts and gate weights."
    />
  );
}
