import { useId } from 'react';
import type { QuantizeSummary } from '../../api/quantize.ts';
import type { ExperimentQuantize } from '../../engine/experiment/schema.ts';
import { SETTINGS, type SettingName } from '../../engine/experiment/vocabulary.ts';
import { formatBytes } from '../../engine/format-bytes.ts';
import { fittingGroupSizes } from '../../engine/quantize/settings.ts';
import { quantizeKey } from '../../state/requests.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { saveFile } from '../download.ts';
import { SettingField } from './SettingField.tsx';
import { TaskView, useRunning } from './TaskView.tsx';

// Every option, label, limit and default below is the settings vocabulary's quantize rows (src/engine/experiment/vocabulary.ts).
const S = SETTINGS;

/** A choice row of the quantize section as a select. */
function ChoiceRow({ name, disabled }: { name: 'quantBits' | 'quantMethod' | 'quantAllocation'; disabled: boolean }) {
  const id = useId();
  const row = S[name];
  const value = useLab((s) => s.experiment.quantize[row.at.split('.')[1] as keyof ExperimentQuantize]) as string;
  const actions = useLabActions();
  return (
    <div className="row">
      <label htmlFor={id}>{row.label}</label>
      <select id={id} value={value} disabled={disabled} title={row.help} onChange={(e) => actions.setSetting(name as SettingName, e.target.value)}>
        {(row.values as readonly string[]).map((v) => (
          <option key={v} value={v}>
            {(row.options as Record<string, string>)[v]}
          </option>
        ))}
      </select>
    </div>
  );
}

/**
 * Quantization of the routed experts, after the pruning in force or alone (docs/quantization.md, "The page"): the
 * width (or mixed precision under an average budget), the quantizer, the group size; the quantized perplexity beside
 * the dense (and pruned) ones, the bytes on disk, on the GPU and read per token, dense vs quantized; the GPTQ folder.
 */
export function QuantizePanel() {
  const q = useLab((s) => s.experiment.quantize);
  const model = useLab((s) => s.model);
  const masksKey = useLab((s) => s.masksKey);
  const task = useLab((s) => s.tasks.quantize);
  const currentKey = useLab((s) => quantizeKey(s.experiment, s.model?.contentHash ?? null, s.masksKey));
  const running = useRunning('quantize');
  const actions = useLabActions();
  const mixed = q.bits === 'mixed';
  const fitting = model ? fittingGroupSizes(model.spec) : [];
  const fits = fitting.includes(q.groupSize);
  const download = async () => {
    const files = await actions.exportQuantized();
    for (const f of files ?? []) saveFile(f.path, f.bytes as Uint8Array<ArrayBuffer>);
  };
  return (
    <div className="quantize-panel" aria-label="Quantize">
      <h3>Quantize</h3>
      <p className="hint">
        Store each routed expert weight as a small integer code with one scale per group of inputs (GPTQ's symmetric layout). Unlike masks, this shrinks the
        file: {masksKey ? 'the pruning in force is kept (pruned weights stay exactly 0).' : 'nothing is pruned, so the dense model is quantized.'}
      </p>
      <div className="settings quantize-settings">
        <ChoiceRow name="quantBits" disabled={running} />
        <ChoiceRow name="quantMethod" disabled={running} />
        {mixed && <SettingField name="quantAvgBits" disabled={running} />}
        {mixed && <ChoiceRow name="quantAllocation" disabled={running} />}
        <SettingField name="quantGroupSize" disabled={running} />
        {q.method === 'gptq' && <SettingField name="quantDamp" disabled={running} />}
      </div>
      {model && (
        <p className={fits ? 'hint' : 'hint warn'} aria-label="Group sizes that fit">
          Group sizes that divide every expert matrix of this model: {fitting.join(', ') || 'none'}
          {fits ? '.' : ` — ${q.groupSize} does not; pick one of them.`}
        </p>
      )}
      <div className="actions">
        <button type="button" className="primary" disabled={!model?.tokenizer || running || q.bits === 'none'} onClick={() => void actions.quantize()}>
          Quantize
        </button>
        {task.result && (
          <button type="button" disabled={running} onClick={() => void download()}>
            Download the GPTQ folder (zip)
          </button>
        )}
      </div>
      <TaskView task="quantize" label="Quantization" />
      {task.result && <QuantizeResult summary={task.result} stale={task.key !== currentKey} />}
    </div>
  );
}

function QuantizeResult({ summary, stale }: { summary: QuantizeSummary; stale: boolean }) {
  const { report, perplexity, reference } = summary;
  const acc = report.accounting;
  const widths = [...new Set(report.matrices.map((m) => m.bits))].sort((a, b) => b - a);
  // All three perplexities on the same windows of the evaluation text (QuantizeSummary.reference).
  const rows: { id: string; name: string; ppl: number | null; bytes: typeof acc.dense }[] = [
    { id: 'dense', name: 'dense', ppl: reference.dense.ppl, bytes: acc.dense },
    // Masks save nothing: the pruned model needs the dense bytes.
    ...(reference.pruned ? [{ id: 'pruned', name: 'pruned (masks)', ppl: reference.pruned.ppl, bytes: acc.dense }] : []),
    { id: 'quantized', name: `quantized${summary.pruned ? ' after pruning' : ''}`, ppl: perplexity.ppl, bytes: acc.quantized },
  ];
  return (
    <div className="quantize-result">
      <p>
        {report.method.toUpperCase()}, {report.bits === null ? `mixed precision at ${report.achievedBits.toFixed(2)} average bits` : `${report.bits} bits`},
        groups of {report.groupSize}: {report.matrices.length} expert matrices (
        {widths.map((b) => `${report.matrices.filter((m) => m.bits === b).length} at ${b} bits`).join(', ')}).
      </p>
      <table className="data-table" aria-label="Quantized model">
        <thead>
          <tr>
            <th>Model</th>
            <th>Perplexity</th>
            <th>Bytes on disk</th>
            <th>On the GPU</th>
            <th>Read per token</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id} data-testid={`quantize-${r.id}`}>
              <td>{r.name}</td>
              <td className="num">{r.ppl === null ? '(evaluate)' : r.ppl.toFixed(4)}</td>
              <td className="num">{formatBytes(r.bytes.diskBytes)}</td>
              <td className="num">{formatBytes(r.bytes.gpuBytes)}</td>
              <td className="num">{formatBytes(r.bytes.readPerTokenBytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint">
        Quantized on disk: <span data-testid="quantize-disk-ratio">{(acc.ratio.diskBytes * 100).toFixed(1)}%</span> of the dense file (the GPTQ checkpoint). On
        the GPU and per token: a runtime that reads packed codes (GPTQ kernels). Masks alone save nothing. This lab itself evaluates the codes dequantized into
        extra weights ({formatBytes(acc.inLab.gpuBytes)} on the GPU), so it measures the quality, not the speed.
      </p>
      {stale && <p className="hint warn">This quantization comes from other settings (or other masks) than the ones above: quantize again.</p>}
    </div>
  );
}
