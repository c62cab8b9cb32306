import { useCallback, useState } from 'react';
import { GATE_BINS, HEALTH_BINS, type RoutingReport, type RoutingView } from '../../api/lab.ts';
import type { CalibrationText } from '../../engine/experiment/schema.ts';
import { textRefOf } from '../../engine/experiment/text-ref.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { drawBars } from '../charts/bars.ts';
import { Chart } from '../charts/Chart.tsx';
import { percent } from '../charts/common.ts';
import { drawHeatmap } from '../charts/heatmap.ts';
import { NeedsTokenizer } from './NeedsTokenizer.tsx';
import { NumberField } from './NumberField.tsx';
import { TaskView, useRunning } from './TaskView.tsx';
import { TextPicker } from './TextPicker.tsx';
import { TokenRoutingView } from './TokenRoutingView.tsx';
import { VariantToggle } from './VariantToggle.tsx';

type Hover = (text: string | null) => void;
const expertLabels = (E: number) => Array.from({ length: E }, (_, e) => `${e}`);

/**
 * The router inspector: how the loaded model sends the tokens of a text to its experts — load per layer and
 * expert, gate-weight distributions, co-activation, router entropy and margins, the text coloured by expert,
 * load per genre, and (once pruned) how routing drifted. Dense and pruned views switch instantly.
 */
export function InspectPanel() {
  const model = useLab((s) => s.model);
  const report = useLab((s) => s.tasks.inspect.result);
  const variant = useLab((s) => s.variant);
  const running = useRunning('inspect');
  const actions = useLabActions();
  const [text, setText] = useState<CalibrationText>({ kind: 'corpus', id: 'brown' });
  const [tokens, setTokens] = useState(128);
  const [bySource, setBySource] = useState(true);
  const limit = model ? Math.min(model.spec.maxPositions, model.spec.slidingWindow ?? Infinity) : 4096;
  const canRead = model?.tokenizer ?? false;
  const shown: RoutingView | null = report ? (variant === 'pruned' && report.pruned ? report.pruned : report.dense) : null;
  return (
    <section className="card lab-section" id="inspect" aria-labelledby="inspect-title">
      <h2 id="inspect-title">Inspect the router</h2>
      <p className="lead">
        Each MoE layer's router scores every token against every expert and sends it to the top {model?.spec.topK ?? 'K'}; their outputs are mixed with gate
        weights g. Route a text and see where its tokens go.
      </p>
      {model && !canRead && <NeedsTokenizer name={model.name} what="The inspector routes the tokens of a text" />}
      <SuperExpertsNote />
      <div className="settings row">
        <TextPicker label="Text to route" value={text} onChange={setText} forTask="evaluate" disabled={running} />
        <NumberField label="Tokens" value={Math.min(tokens, limit)} min={2} max={limit} onCommit={setTokens} disabled={running} />
        <label className="check">
          <input type="checkbox" checked={bySource} onChange={(e) => setBySource(e.target.checked)} disabled={running} /> load per genre
        </label>
      </div>
      <div className="row actions">
        <button
          type="button"
          className="primary"
          disabled={!canRead || running}
          onClick={() => void actions.inspect({ text: textRefOf(text), tokens: Math.min(tokens, limit), bySource })}
        >
          Inspect routing
        </button>
        {report?.pruned && <VariantToggle />}
      </div>
      <TaskView task="inspect" label="Routing" />
      {report && shown && <RoutingCharts report={report} view={shown} />}
    </section>
  );
}

function RoutingCharts({ report, view }: { report: RoutingReport; view: RoutingView }) {
  const layerView = useLab((s) => s.experiment.view.layer);
  const { setView } = useLabActions();
  const E = report.numExperts;
  const moeLayers = view.layers.map((l) => l.layer);
  const selected = view.layers.find((l) => l.layer === layerView) ?? view.layers[0];
  const which = view.variant === 'pruned' ? 'pruned model' : 'dense model';

  const loadMap = useCallback(
    (onHover: Hover) =>
      drawHeatmap(
        {
          title: `Expert load, ${which}: share of each layer's routed tokens`,
          rowLabels: view.layers.map((l) => `layer ${l.layer}`),
          columnLabels: expertLabels(E),
          values: view.layers.map((l) => l.load),
          xTitle: 'expert',
          yTitle: 'MoE layer',
          valueTitle: 'of routed tokens',
          format: (v) => percent(v),
          describe: (r, c, v) => `layer ${view.layers[r].layer}, expert ${c}: ${percent(v, 2)} of routed tokens`,
        },
        onHover,
      ),
    [view, E, which],
  );
  const gateMap = useCallback(
    (onHover: Hover) =>
      drawHeatmap(
        {
          title: `Gate weight distribution per expert, layer ${selected.layer}, ${which}`,
          rowLabels: expertLabels(E).map((e) => `expert ${e}`),
          columnLabels: Array.from({ length: GATE_BINS }, (_, b) => ((b / GATE_BINS) * selected.gateMax).toFixed(2)),
          values: selected.gateHistogram,
          xTitle: 'gate weight g (bin start)',
          yTitle: 'expert',
          valueTitle: 'tokens',
          showValues: false,
          describe: (r, c, v) =>
            `expert ${r}: ${v} tokens with g in [${((c / GATE_BINS) * selected.gateMax).toFixed(2)}, ${(((c + 1) / GATE_BINS) * selected.gateMax).toFixed(2)})`,
        },
        onHover,
        560,
      ),
    [selected, E, which],
  );
  const coMap = useCallback(
    (onHover: Hover) =>
      drawHeatmap(
        {
          title: `Co-activation, layer ${selected.layer}, ${which}: tokens that chose both experts`,
          rowLabels: expertLabels(E),
          columnLabels: expertLabels(E),
          values: Array.from({ length: E }, (_, a) => selected.coactivation.slice(a * E, (a + 1) * E)),
          xTitle: 'expert',
          yTitle: 'expert',
          valueTitle: 'tokens',
          describe: (r, c, v) => (r === c ? `expert ${r}: chosen by ${v} tokens` : `experts ${r} and ${c}: chosen together by ${v} tokens`),
        },
        onHover,
        560,
      ),
    [selected, E, which],
  );
  const health = useCallback(
    (onHover: Hover) =>
      drawBars(
        {
          title: `Router entropy, layer ${selected.layer}, ${which}`,
          categories: Array.from({ length: HEALTH_BINS }, (_, b) => ((b * Math.log(E)) / HEALTH_BINS).toFixed(2)),
          series: [{ name: 'tokens', values: selected.entropyHistogram, color: '#4e79a7' }],
          xTitle: `router entropy, nats (bin start; ln ${E} = ${Math.log(E).toFixed(2)} is uniform)`,
          yTitle: 'tokens',
        },
        onHover,
        420,
        150,
      ),
    [selected, E, which],
  );
  const margins = useCallback(
    (onHover: Hover) =>
      drawBars(
        {
          title: `Top-1/top-2 margin, layer ${selected.layer}, ${which}`,
          categories: Array.from({ length: HEALTH_BINS }, (_, b) => (b / HEALTH_BINS).toFixed(2)),
          series: [{ name: 'tokens', values: selected.marginHistogram, color: '#f28e2b' }],
          xTitle: 'p(top-1) − p(top-2) (bin start)',
          yTitle: 'tokens',
        },
        onHover,
        420,
        150,
      ),
    [selected, which],
  );
  const sources = report.sources;
  const moeIndex = moeLayers.indexOf(selected.layer);
  const sourceMap = useCallback(
    (onHover: Hover) =>
      drawHeatmap(
        {
          title: `Expert load per source, layer ${selected.layer}, ${which}`,
          rowLabels: sources.map((s) => s.name),
          columnLabels: expertLabels(E),
          values: sources.map((s) => ((view.variant === 'pruned' && s.pruned) || s.dense)[moeIndex]),
          xTitle: 'expert',
          yTitle: 'source',
          valueTitle: 'of routed tokens',
          format: (v) => percent(v),
          describe: (r, c, v) => `${sources[r].name}, expert ${c}: ${percent(v, 2)} of its first ${sources[r].tokens} tokens' routing`,
        },
        onHover,
      ),
    [sources, selected, E, moeIndex, view.variant, which],
  );
  const drift = report.drift;
  const driftChart = useCallback(
    (onHover: Hover) =>
      drawBars(
        {
          title: 'Routing drift, pruned vs dense, same tokens',
          categories: (drift ?? []).map((d) => `layer ${d.layer}`),
          series: [
            { name: 'top-1 expert changed', values: (drift ?? []).map((d) => d.top1Changed) },
            { name: 'set of experts changed', values: (drift ?? []).map((d) => d.setChanged) },
          ],
          xTitle: 'MoE layer',
          yTitle: 'share of tokens',
          format: (v) => percent(v),
          yDomain: [0, 1],
        },
        onHover,
        520,
        160,
      ),
    [drift],
  );

  return (
    <div className="result" role="region" aria-label="Routing result">
      <p>
        {report.tokenTexts.length} tokens routed through the <strong>{which}</strong>.
      </p>
      <Chart label="Expert load heatmap" draw={loadMap} caption={`A balanced router gives each expert ${percent(1 / E)}.`} />
      <div className="row">
        <label htmlFor="inspect-layer">Layer</label>
        <select id="inspect-layer" value={selected.layer} onChange={(e) => setView({ layer: Number(e.target.value) })}>
          {moeLayers.map((l) => (
            <option key={l} value={l}>
              layer {l}
            </option>
          ))}
        </select>
        <span className="hint">
          mean router entropy {selected.meanEntropy.toFixed(3)} nats, mean top-1/top-2 margin {selected.meanMargin.toFixed(3)}
        </span>
      </div>
      {selected.biasChoice && (
        <p className="hint" data-testid="bias-choice">
          Experts are chosen by score + e_score_correction_bias, weighted by the score alone: the bias changed the chosen experts of{' '}
          {selected.biasChoice.changed} of {report.tokenTexts.length} tokens in layer {selected.layer}.
        </p>
      )}
      <TokenRoutingView tokens={report.tokenTexts} layer={selected} topK={report.topK} experts={E} />
      <div className="chart-grid">
        <Chart label="Gate weight distribution" draw={gateMap} />
        <Chart label="Co-activation matrix" draw={coMap} />
        <Chart label="Router entropy histogram" draw={health} />
        <Chart label="Top-1/top-2 margin histogram" draw={margins} />
      </div>
      {sources.length > 0 && <Chart label="Expert load per source" draw={sourceMap} caption="Each row routes the first tokens of one genre (or text)." />}
      {drift && <Chart label="Routing drift" draw={driftChart} caption="How often pruning changed which experts a token goes to." />}
    </div>
  );
}

/** Super experts of the last calibration (Su et al. 2025; docs/calibration.md), so the inspector marks them too. */
function SuperExpertsNote() {
  const calibration = useLab((s) => s.tasks.calibrate.result);
  if (!calibration) return null;
  const supers = calibration.layers.filter((l) => l.superExperts.length);
  return (
    <p className="hint" aria-label="Super experts in the inspector">
      {supers.length
        ? `Super experts (the last calibration: an expert whose largest output is far above its layer's): ${supers.map((l) => `layer ${l.layer}: expert ${l.superExperts.join(', ')}`).join('; ')}. Switching one off (Evaluate, Steering) shows what the model loses without it.`
        : "The last calibration found no super expert: no expert's largest output stands far above its layer's."}
    </p>
  );
}
