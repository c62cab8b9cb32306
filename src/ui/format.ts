/** Numbers as the page shows them. */
export { formatBytes } from '../engine/format-bytes.ts';

/** 484672 -> "484,672"; 1.2e9 -> "1.20 B" (parameter counts). */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  return n.toLocaleString('en-US');
}

export function formatPercent(done: number, total: number): string {
  return total > 0 ? `${Math.floor((100 * done) / total)}%` : '';
}
