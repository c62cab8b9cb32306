import { formatBytes, formatPercent } from './format.ts';

interface ProgressBarProps {
  label: string;
  done: number;
  total: number;
  unit: 'bytes' | 'steps';
}

/** A labelled native <progress> (role progressbar) with its numbers beside it. */
export function ProgressBar({ label, done, total, unit }: ProgressBarProps) {
  const amount = unit === 'bytes' ? `${formatBytes(done)} of ${formatBytes(total)}` : `${done} of ${total}`;
  return (
    <div className="progress-row">
      <span className="progress-label">{label}</span>
      <progress aria-label={label} max={Math.max(total, 1)} value={Math.min(done, total)} />
      <span className="progress-amount">
        {amount} {formatPercent(done, total)}
      </span>
    </div>
  );
}
