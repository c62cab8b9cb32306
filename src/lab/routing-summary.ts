/**
 * The router inspector's numbers from a per-token routing record (src/gpu/calibration/routing-record.ts): expert
 * load, gate-weight histograms, co-activation, router entropy and top-1/top-2 margin, and how routing drifts
 * between the dense and the pruned model on the same tokens. Pure: no GPU.
 * Definitions follow src/engine/calibration/router-health.ts (load = share of the T*K assignments).
 */
import { GATE_BINS, HEALTH_BINS, type LayerDrift, type LayerRoutingView } from '../api/lab.ts';
import type { LayerRouting } from '../gpu/calibration/routing-record.ts';
import type { RoutingRule } from '../engine/model/spec.ts';
import { route } from '../engine/reference/routing.ts';
import { sigmoid } from '../engine/reference/ops.ts';

const NO_EXPERT = 0xffffffff;

/** Bin of `value` in [0, max] split into `bins` equal bins; the top edge goes to the last bin. */
export function binOf(value: number, max: number, bins: number): number {
  if (!(value > 0)) return 0;
  return Math.min(bins - 1, Math.floor((value / max) * bins));
}

/** Share of the assigned slots per expert, [E]; zeros when nothing was routed. */
export function expertLoad(expertIds: Uint32Array, experts: number): number[] {
  const counts = new Array<number>(experts).fill(0);
  let assigned = 0;
  for (const e of expertIds) {
    if (e === NO_EXPERT || e >= experts) continue;
    counts[e]++;
    assigned++;
  }
  return counts.map((c) => (assigned ? c / assigned : 0));
}

/**
 * Grouped-topk routers: each chosen slot's score and, with a correction bias, the experts the scores alone pick
 * (the same rule without the bias, routing.ts), from the recorded router logits.
 */
function scoresAndChoice(record: LayerRouting, experts: number, topK: number, rule: RoutingRule | undefined): Pick<LayerRoutingView, 'scores' | 'biasChoice'> {
  const logits = record.routerLogits;
  if (!rule || rule.kind !== 'grouped-topk' || !logits) return { scores: null, biasChoice: null };
  const T = record.entropy.length;
  const scores = new Float32Array(T * topK);
  const withBias = rule.correctionBias && record.correctionBias ? record.correctionBias : null;
  const scoreOnly = withBias ? new Uint32Array(T * topK).fill(NO_EXPERT) : null;
  let changed = 0;
  for (let t = 0; t < T; t++) {
    const row = logits.subarray(t * experts, (t + 1) * experts);
    // Softmax scores are over the enabled experts; the ids the forward chose stand for them (dropped ones never are).
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    for (let k = 0; k < topK; k++) {
      const e = record.expertIds[t * topK + k];
      if (e === NO_EXPERT || e >= experts) continue;
      scores[t * topK + k] = rule.score === 'sigmoid' ? sigmoid(row[e]) : Math.exp(row[e] - max) / sum;
    }
    if (scoreOnly) {
      const plain = route(rule, row, topK, null).experts;
      plain.forEach((e, k) => (scoreOnly[t * topK + k] = e));
      const chosen = new Set(Array.from(record.expertIds.subarray(t * topK, (t + 1) * topK)));
      if (plain.some((e) => !chosen.has(e))) changed++;
    }
  }
  return { scores, biasChoice: scoreOnly ? { scoreOnly, changed } : null };
}

/**
 * Everything the inspector draws for one MoE layer of a record with T tokens and K slots. `rule`: the model's
 * routing rule, for the grouped-topk scores and the correction bias's effect.
 */
export function summarizeLayer(layer: number, record: LayerRouting, experts: number, topK: number, rule?: RoutingRule): LayerRoutingView {
  const { expertIds, gates, entropy, margin } = record;
  const T = entropy.length;
  const gateHistogram = Array.from({ length: experts }, () => new Array<number>(GATE_BINS).fill(0));
  // Grouped-topk gates are scores (at most 1 each, renormalized or not) times routed_scaling_factor.
  const gateMax = rule?.kind === 'grouped-topk' ? Math.max(1, rule.scale) : 1;
  const coactivation = new Array<number>(experts * experts).fill(0);
  for (let t = 0; t < T; t++) {
    const chosen: number[] = [];
    for (let k = 0; k < topK; k++) {
      const e = expertIds[t * topK + k];
      if (e === NO_EXPERT || e >= experts) continue;
      gateHistogram[e][binOf(gates[t * topK + k], gateMax, GATE_BINS)]++;
      chosen.push(e);
    }
    for (const a of chosen) for (const b of chosen) coactivation[a * experts + b]++;
  }
  const maxEntropy = Math.log(experts);
  const entropyHistogram = new Array<number>(HEALTH_BINS).fill(0);
  const marginHistogram = new Array<number>(HEALTH_BINS).fill(0);
  let entropySum = 0;
  let marginSum = 0;
  for (let t = 0; t < T; t++) {
    entropyHistogram[binOf(entropy[t], maxEntropy, HEALTH_BINS)]++;
    marginHistogram[binOf(margin[t], 1, HEALTH_BINS)]++;
    entropySum += entropy[t];
    marginSum += margin[t];
  }
  return {
    layer,
    expertIds,
    gates,
    entropy,
    margin,
    load: expertLoad(expertIds, experts),
    gateHistogram,
    gateMax,
    coactivation,
    entropyHistogram,
    marginHistogram,
    meanEntropy: T ? entropySum / T : 0,
    meanMargin: T ? marginSum / T : 0,
    ...scoresAndChoice(record, experts, topK, rule),
  };
}

/** Token t's gate per expert, [E] (0 for experts it did not choose). */
function gateVector(view: LayerRoutingView, t: number, experts: number, topK: number): Float64Array {
  const out = new Float64Array(experts);
  for (let k = 0; k < topK; k++) {
    const e = view.expertIds[t * topK + k];
    if (e !== NO_EXPERT && e < experts) out[e] += view.gates[t * topK + k];
  }
  return out;
}

/** The expert in slot order with the largest gate (the family's top-1), or -1 when the token chose none. */
function topExpert(view: LayerRoutingView, t: number, topK: number): number {
  let best = -1;
  let bestGate = -Infinity;
  for (let k = 0; k < topK; k++) {
    const e = view.expertIds[t * topK + k];
    const g = view.gates[t * topK + k];
    if (e !== NO_EXPERT && g > bestGate) {
      best = e;
      bestGate = g;
    }
  }
  return best;
}

/** How the pruned model's routing of the same tokens differs from the dense model's, per layer. */
export function routingDrift(dense: LayerRoutingView, pruned: LayerRoutingView, experts: number, topK: number): LayerDrift {
  const T = dense.entropy.length;
  let top1Changed = 0;
  let setChanged = 0;
  let distance = 0;
  for (let t = 0; t < T; t++) {
    if (topExpert(dense, t, topK) !== topExpert(pruned, t, topK)) top1Changed++;
    const a = gateVector(dense, t, experts, topK);
    const b = gateVector(pruned, t, experts, topK);
    let differentSet = false;
    for (let e = 0; e < experts; e++) {
      if (a[e] > 0 !== b[e] > 0) differentSet = true;
      distance += Math.abs(a[e] - b[e]);
    }
    if (differentSet) setChanged++;
  }
  return { layer: dense.layer, top1Changed: T ? top1Changed / T : 0, setChanged: T ? setChanged / T : 0, gateDistance: T ? distance / T : 0 };
}
