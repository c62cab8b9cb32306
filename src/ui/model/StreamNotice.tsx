import type { StreamPlan } from '../../api/engine.ts';
import { formatBytes } from '../format.ts';

/** Seconds for people: 0.4 s, 12 s, 3.5 min, 1.2 h. */
function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * Streaming mode (docs/ui.md): told before a model above the GPU memory budget loads, and beside it once loaded —
 * the weight size, the memory it will use, the estimated time per pass and whether fetched layers are cached.
 */
export function StreamNotice({ name, plan }: { name: string; plan: StreamPlan }) {
  const { readRate, secondsPerPass, cache } = plan;
  return (
    <div className="stream-notice" role="note" aria-label="Streaming mode">
      <p>
        <strong>Streaming mode.</strong> The weights of {name} ({formatBytes(plan.weightBytes)}) exceed this tab&apos;s GPU memory budget (
        {formatBytes(plan.budget)}), so it loads in streaming mode: the embedding and LM head stay on the GPU, and in every pass each of its {plan.layers}{' '}
        decoder layers (about {formatBytes(plan.layerBytes)} each) is read and brought up in turn, the next one read while the GPU computes. It uses at most{' '}
        {formatBytes(plan.budget)} of GPU memory.
      </p>
      <p data-testid="stream-time">
        {secondsPerPass !== null && readRate
          ? `Estimated time per pass: about ${formatSeconds(secondsPerPass)} to read the weights once at ${formatBytes(readRate.bytesPerSecond)}/s (measured: ${readRate.measured}). An estimate: the read rate varies, and the computing comes on top.`
          : 'Every pass reads the weights again; the progress shows each layer as it comes.'}
      </p>
      {cache && (
        <p data-testid="stream-cache" className={cache.kept ? undefined : 'error'}>
          {cache.kept
            ? 'Fetched layers are kept in Cache Storage: a second pass, or a second visit, reads them from there instead of the network.'
            : cache.message}
        </p>
      )}
    </div>
  );
}
