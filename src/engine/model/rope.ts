/**
 * RoPE frequencies of a model (Su et al. 2021, "RoFormer"): inv_freq[i] = theta^(-2i/d) for the d = rope.rotaryDim
 * rotating dims, or YaRN's blend of interpolated and original frequencies (Peng et al. 2023, Sec. 3.2-3.4;
 * transformers' _compute_yarn_parameters, computed here in f64). One definition for the CPU reference and the GPU
 * rope tables. The angle of pair i at position p is p * inv_freq[i]; cos and sin are then multiplied by
 * `attentionFactor` (YaRN's mscale ratio, 1 otherwise).
 */
import type { MoeModelSpec } from './spec.ts';

export interface RopeFrequencies {
  invFreq: Float64Array; // [d/2]
  attentionFactor: number;
}

export function ropeFrequencies(spec: Pick<MoeModelSpec, 'ropeTheta' | 'rope'>): RopeFrequencies {
  const { rotaryDim: d, yarn } = spec.rope;
  const base = spec.ropeTheta;
  const half = d / 2;
  const original = Float64Array.from({ length: half }, (_, i) => 1 / base ** ((2 * i) / d));
  if (!yarn) return { invFreq: original, attentionFactor: 1 };
  // The dims rotating fewer than beta_slow times over the original context are interpolated (freq / factor), those
  // rotating more than beta_fast times kept; a linear ramp in between.
  const correctionDim = (rotations: number) => (d * Math.log(yarn.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = correctionDim(yarn.betaFast);
  let high = correctionDim(yarn.betaSlow);
  if (yarn.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, d - 1);
  if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
  const invFreq = original.map((f, i) => {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrapolation = 1 - ramp;
    return (f / yarn.factor) * (1 - extrapolation) + f * extrapolation;
  });
  return { invFreq, attentionFactor: yarn.attentionFactor };
}
