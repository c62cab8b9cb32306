/**
 * Learning-rate schedule: linear warmup from 0 to `peak` over `warmupSteps`, then a cosine decay to `floor` at
 * `totalSteps` (Loshchilov & Hutter 2017, without restarts), held at `floor` after that. Steps count from 1.
 */
export interface LrSchedule {
  peak: number;
  floor: number;
  warmupSteps: number;
  totalSteps: number;
}

export function learningRate(s: LrSchedule, step: number): number {
  if (step <= s.warmupSteps) return (s.peak * step) / Math.max(1, s.warmupSteps);
  if (step >= s.totalSteps) return s.floor;
  const progress = (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
  return s.floor + 0.5 * (s.peak - s.floor) * (1 + Math.cos(Math.PI * progress));
}
