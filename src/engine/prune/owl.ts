/**
 * OWL layer-wise sparsity (Yin et al. 2024, "Outlier Weighed Layerwise Sparsity", Sec. 3 and its code
 * luuyin/OWL lib/prune_all.py): layers whose scores hold more outliers keep more weights.
 *
 * 1. Outlier ratio of layer l: D_l = fraction of the layer's scores (all its pruned matrices together) greater
 *    than M x the mean score of that layer (M = 5 in the paper). Scores are those of the method, exactly as
 *    scores.ts defines them (f32, tiny -> 0): Wanda / MoE-Pruner |W| * sqrt(statistic), |W| for magnitude; random
 *    has no score of its own and uses |W|; SparseGPT uses Wanda's score, as OWL's code does for it.
 * 2. Min-max scale to [0, 2 lambda]: a_l = (D_l - min D) / (max D - min D) * 2 lambda (lambda = 0.08), so the
 *    layer sparsities span at most 2 lambda.
 * 3. Density 1 - s_l = a_l - mean(a) + (1 - s), i.e. s_l = s + mean(a) - a_l. OWL's code takes the plain mean over
 *    its equal-sized LLaMA layers; here the mean is weighted by each layer's number of prunable weights n_l, so
 *    sum(n_l s_l) / sum(n_l) = s exactly and the global target is kept up to the per-group rounding floor(n s_l).
 * Equal ratios (or a single layer) give s everywhere. A layer sparsity outside 0..0.95 is refused (lower lambda).
 */
import { bitsToFloat, scoreKey } from './scores.ts';
import { MAX_SPARSITY, PruneRequestError, type MaskMethod } from './settings.ts';
import type { PipelineMethod } from './pipeline-settings.ts';

/** The score OWL counts outliers of, for a pipeline method (see the file comment). */
export function owlScoreMethod(method: PipelineMethod): MaskMethod {
  if (method === 'random') return 'magnitude';
  return method === 'sparsegpt' ? 'wanda' : method;
}

export interface OwlMatrix {
  /** [rows, cols] weights as stored, widened to f32. */
  weights: Float32Array;
  /** [cols] column factors c_j (scores.ts columnFactors), or null for magnitude. */
  factors: Float32Array | null;
  cols: number;
}

export interface OutlierCount {
  /** Scores in the layer. */
  count: number;
  /** Mean score (f64 sum of the f32 scores / count). */
  mean: number;
  /** Scores > M x mean. */
  outliers: number;
  /** outliers / count: D_l. */
  ratio: number;
}

function scoreOf(method: MaskMethod, weight: number, factor: number): number {
  return bitsToFloat(scoreKey(method, weight, factor, 0, 0));
}

/** D_l of one layer: scores of all its matrices against M x their mean. Two passes, nothing stored. */
export function layerOutliers(method: MaskMethod, matrices: readonly OwlMatrix[], outlierFactor: number): OutlierCount {
  const each = (visit: (score: number) => void) => {
    for (const m of matrices) {
      for (let i = 0; i < m.weights.length; i++) visit(scoreOf(method, m.weights[i], m.factors ? m.factors[i % m.cols] : 1));
    }
  };
  let sum = 0;
  let count = 0;
  each((score) => {
    sum += score;
    count++;
  });
  if (count === 0) return { count: 0, mean: 0, outliers: 0, ratio: 0 };
  const mean = sum / count;
  const threshold = outlierFactor * mean;
  let outliers = 0;
  each((score) => {
    if (score > threshold) outliers++;
  });
  return { count, mean, outliers, ratio: outliers / count };
}

/**
 * Layer sparsities s_l from outlier ratios D_l and prunable weights n_l (same order), for a global target s:
 * s_l = s + mean_n(a) - a_l with a_l = (D_l - min D) / (max D - min D) * 2 lambda (see the file comment).
 */
export function owlLayerSparsities(
  ratios: readonly number[],
  weights: readonly number[],
  target: number,
  lambda: number,
  /** Layer indices, for error messages. */
  layers: readonly number[] = ratios.map((_, i) => i),
): number[] {
  if (ratios.length !== weights.length) throw new RangeError(`${ratios.length} outlier ratios for ${weights.length} layers`);
  if (ratios.length === 0) return [];
  const min = Math.min(...ratios);
  const max = Math.max(...ratios);
  if (!(max > min)) return ratios.map(() => target);
  const scaled = ratios.map((d) => ((d - min) / (max - min)) * 2 * lambda);
  const total = weights.reduce((a, b) => a + b, 0);
  const mean = scaled.reduce((sum, a, l) => sum + a * weights[l], 0) / total;
  return scaled.map((a, l) => {
    const s = target + mean - a;
    if (!(s >= 0 && s <= MAX_SPARSITY)) {
      throw new PruneRequestError(
        `OWL gives layer ${layers[l]} sparsity ${s.toFixed(4)}, outside 0..${MAX_SPARSITY} (target ${target}, lambda ${lambda}); lower lambda or the target`,
      );
    }
    return s;
  });
}
