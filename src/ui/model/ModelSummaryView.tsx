import type { ModelSummary } from '../../api/engine.ts';
import { shortHash } from '../../engine/experiment/model-hash.ts';
import { formatBytes, formatCount } from '../format.ts';
import { StreamNotice } from './StreamNotice.tsx';

/** The loaded model at a glance: shape, parameter counts, files, content hash, and how it fits the GPU. */
export function ModelSummaryView({ summary }: { summary: ModelSummary }) {
  const { spec, parameters: p, fit } = summary;
  const moeLayers = spec.moeLayers.filter(Boolean).length;
  const rows: [string, string][] = [
    ['Architecture', spec.architecture],
    ['Layers', moeLayers === spec.numLayers ? `${spec.numLayers}` : `${spec.numLayers} (${moeLayers} MoE)`],
    ['Experts', `${spec.numExperts}, top-${spec.topK} per token`],
    ['Shared expert', spec.sharedExpert ? `FFN ${spec.sharedExpert.ffnSize}${spec.sharedExpert.gated ? ', gated' : ''}` : 'none'],
    ['Hidden size', `${spec.hiddenSize}`],
    ['Expert FFN size', `${spec.expertFfnSize}`],
    ['Attention heads', `${spec.numHeads} query, ${spec.numKvHeads} key/value, ${spec.headDim} wide`],
    ['Vocabulary', `${spec.vocabSize}`],
    ['Parameters', `${formatCount(p.total)} total, ${formatCount(p.expert)} in experts, ${formatCount(p.active)} active per token`],
    ['Weights', `${summary.dtype}, ${formatBytes(summary.totalBytes)} in ${summary.files.length} files`],
    ['Tokenizer', summary.tokenizer ? 'tokenizer.json present' : 'none: runs on token ids only'],
  ];
  return (
    <section className="summary" aria-labelledby="summary-title">
      <h3 id="summary-title">Loaded model: {summary.name}</h3>
      <table className="facts" aria-label="Model summary">
        <tbody>
          {rows.map(([label, value]) => (
            <tr key={label}>
              <th scope="row">{label}</th>
              <td>{value}</td>
            </tr>
          ))}
          <tr>
            <th scope="row">Content hash</th>
            <td>
              <code title={`SHA-256 of config.json and the safetensors headers: ${summary.contentHash}`}>{shortHash(summary.contentHash)}</code>
            </td>
          </tr>
          {fit && (
            <tr>
              <th scope="row">GPU fit</th>
              <td>
                largest buffer {formatBytes(fit.largestBuffer.bytes)} of {formatBytes(fit.limit.bytes)} allowed; {formatBytes(fit.weightBytes)} of weights
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {summary.streaming && <StreamNotice name={summary.name} plan={summary.streaming} />}
      <details>
        <summary>Files</summary>
        <ul className="file-list">
          {summary.files.map((f) => (
            <li key={f.file}>
              <code>{f.file}</code> {formatBytes(f.bytes)}
            </li>
          ))}
        </ul>
      </details>
    </section>
  );
}
