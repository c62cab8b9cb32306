/**
 * Structured pruning of routed-expert neurons (docs/pruning.md, "Neuron pruning"): every routed expert of every MoE
 * layer drops the same number of its FFN neurons, so the model keeps one expert FFN size I' = I - floor(I * s) and
 * an export can hold genuinely smaller matrices (Santacroce et al. 2023 prune FFN neurons of dense transformers; in an
 * MoE the expert's intermediate neuron is the natural unit, and the router says which ones its tokens use).
 *
 * Neuron n of expert e is row n of its gate projection, row n of its up projection and column n of its down
 * projection; in the canonical layout (src/gpu/model) gate_up [E, 2I, H] holds rows e*2I + n (gate) and
 * e*2I + I + n (up), down [E, H, I] the elements e*H*I + h*I + n for h < H.
 *
 * Scores (larger = more important; computed in f64 from the weights widened to f32 and the f32 statistics):
 * - moe-pruner: ||W_down[:, n]||_2 * sqrt(inter_sqnorm_gated[n]) — the router-weighted activation of the neuron
 *   times the size of what it writes back (Xie et al. 2024's metric, summed over the neuron's weights as Wanda's
 *   |W| * ||x|| is per weight);
 * - wanda: ||W_down[:, n]||_2 * sqrt(inter_sqnorm[n]) (Sun et al. 2023, per neuron);
 * - magnitude: sqrt(||W_gate[n, :]||^2 + ||W_up[n, :]||^2 + ||W_down[:, n]||^2);
 * - random: the random method's hash (scores.ts) of the neuron index, stream layer * 65536 + e: seeded, no ties.
 * inter_sqnorm[_gated] [I] are the down projection's input statistics the calibration already measures per expert
 * (docs/calibration.md), so a score is one reduction over the neuron's H or 3H weights: these run on the CPU, and
 * this file is their definition (the GPU pipeline reads the layer's weights back once, as OWL does; the cost is one
 * read of the experts, small beside the calibration pass that makes the statistics).
 *
 * Selection: per expert the floor(I * s) lowest scores are dropped, ties the lower index first (a stable ascending
 * sort). A non-finite score (a NaN or infinite weight) counts as +inf: kept last, as in the unstructured rule.
 */
import type { LayerStats } from '../calibration/stats.ts';
import { allKeptMask, isKept, markPruned } from '../model/keep-mask.ts';
import type { MaskSet } from '../model/mask-set.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import type { PipelineSettings } from './pipeline-settings.ts';
import { randomKey, randomStreamKey } from './scores.ts';
import { PruneRequestError } from './settings.ts';

/** The scores neuron pruning takes (SparseGPT's weight updates have no neuron form). */
export const NEURON_METHODS = ['moe-pruner', 'wanda', 'magnitude', 'random'] as const;
export type NeuronMethod = (typeof NEURON_METHODS)[number];

/** Families whose config derives the shared expert's width from the expert FFN size key (n_shared_experts * I). */
const SHARED_SIZE_FROM_EXPERT_FFN: readonly MoeModelSpec['architecture'][] = ['deepseek_v2', 'deepseek_v3', 'glm4_moe'];

/** Throws PruneRequestError with one sentence unless neuron pruning can run with `settings` on `spec`. */
export function checkNeuronSettings(settings: PipelineSettings, spec: MoeModelSpec): void {
  const method = settings.method;
  if (!(NEURON_METHODS as readonly string[]).includes(method))
    throw new PruneRequestError(`neuron pruning scores neurons by ${NEURON_METHODS.join(', ')}; ${method} has no neuron form`);
  if (settings.pattern.kind !== 'unstructured')
    throw new PruneRequestError('neuron pruning removes whole neurons; an N:M pattern does not apply (use unstructured)');
  if (settings.group !== 'row')
    throw new PruneRequestError(`neuron pruning compares the neurons of each expert; group '${settings.group}' does not apply (use row)`);
  if (settings.targets.length !== 1 || settings.targets[0] !== 'experts')
    throw new PruneRequestError(`neuron pruning prunes the routed experts only; targets ${settings.targets.join(',')} are not available with it`);
  if (settings.allocation === 'owl')
    throw new PruneRequestError(
      'OWL would give each layer its own expert FFN size, which no supported family can state in config.json (one size for all layers); use uniform',
    );
  if (settings.expertsDrop > 0) throw new PruneRequestError('neuron pruning does not combine with expert dropping yet; drop experts or prune neurons');
  if (settings.protect !== undefined && settings.protect !== 'none')
    throw new PruneRequestError('neuron pruning keeps one FFN size for every expert, so no expert can be left whole (protect none)');
  if (settings.mode !== 'dense') throw new PruneRequestError('neuron pruning scores with dense statistics (mode dense)');
  if (spec.sharedExpert && SHARED_SIZE_FROM_EXPERT_FFN.includes(spec.architecture))
    throw new PruneRequestError(
      `${spec.architecture}'s config sizes its shared experts from the expert FFN size, so a smaller I' cannot be stated without shrinking them too`,
    );
}

/** Neurons each routed expert drops at sparsity s: floor(I * s) in IEEE double, as the unstructured k. */
export function neuronsDropped(ffn: number, sparsity: number): number {
  return Math.floor(ffn * sparsity);
}

/** One MoE layer's routed experts in the canonical layout, widened to f32. */
export interface NeuronLayerWeights {
  experts: number; // E
  ffn: number; // I
  hidden: number; // H
  gateUp: Float32Array; // [E, 2I, H], expert e's gate rows then its up rows
  down: Float32Array; // [E, H, I]
}

/** Sum of squares of gate row n, up row n (gate_up) of expert e, in f64. */
function rowSquares(w: NeuronLayerWeights, e: number, n: number): number {
  const { ffn: I, hidden: H } = w;
  let sum = 0;
  for (const row of [e * 2 * I + n, e * 2 * I + I + n]) {
    const at = row * H;
    for (let h = 0; h < H; h++) sum += w.gateUp[at + h] * w.gateUp[at + h];
  }
  return sum;
}

/** Sum of squares of down column n of expert e, in f64. */
function columnSquares(w: NeuronLayerWeights, e: number, n: number): number {
  const { ffn: I, hidden: H } = w;
  let sum = 0;
  const base = e * H * I + n;
  for (let h = 0; h < H; h++) {
    const v = w.down[base + h * I];
    sum += v * v;
  }
  return sum;
}

/** The statistic [I] a method multiplies with (wanda: inter_sqnorm, moe-pruner: inter_sqnorm_gated), checked. */
function statistic(method: 'wanda' | 'moe-pruner', stats: LayerStats | null, layer: number, e: number, ffn: number): Float32Array {
  const name = `layers.${layer}.experts.${e}.${method === 'wanda' ? 'inter_sqnorm' : 'inter_sqnorm_gated'}`;
  const x = stats?.experts[e];
  if (!x) throw new PruneRequestError(`${method} neuron scores need calibration statistics (${name} is missing)`);
  const s = method === 'wanda' ? x.interSqNorm : x.interSqNormGated;
  if (s.length !== ffn) throw new PruneRequestError(`${name} has ${s.length} values, the expert FFN size is ${ffn}`);
  for (let n = 0; n < ffn; n++)
    if (!(s[n] >= 0) || !Number.isFinite(s[n])) throw new PruneRequestError(`${name}[${n}] = ${s[n]}: a squared-norm statistic must be finite and >= 0`);
  return s;
}

/**
 * Scores [E, I] of every neuron of one MoE layer (file comment); `stats` is the layer's calibration statistics
 * (wanda, moe-pruner), `seed` the random method's seed.
 */
export function neuronScores(method: NeuronMethod, w: NeuronLayerWeights, stats: LayerStats | null, layer: number, seed: number): Float64Array {
  const { experts: E, ffn: I } = w;
  const out = new Float64Array(E * I);
  for (let e = 0; e < E; e++) {
    const s = method === 'wanda' || method === 'moe-pruner' ? statistic(method, stats, layer, e, I) : null;
    const streamKey = randomStreamKey(seed, layer * 65536 + e);
    for (let n = 0; n < I; n++) {
      let score: number;
      if (method === 'random') score = randomKey(streamKey, n);
      else if (method === 'magnitude') score = Math.sqrt(rowSquares(w, e, n) + columnSquares(w, e, n));
      else score = Math.sqrt(columnSquares(w, e, n)) * Math.sqrt(s![n]);
      // NaN / inf weights: the neuron is kept last (as a non-finite weight scores +inf in the unstructured rule).
      out[e * I + n] = Number.isFinite(score) ? score : Infinity;
    }
  }
  return out;
}

/** The `count` neurons of expert e with the lowest scores (ties: lower index first), ascending by index. */
export function lowestNeurons(scores: Float64Array, e: number, ffn: number, count: number): number[] {
  const order = Array.from({ length: ffn }, (_, n) => n);
  order.sort((a, b) => scores[e * ffn + a] - scores[e * ffn + b] || a - b);
  return order.slice(0, count).sort((a, b) => a - b);
}

/** Dropped neurons per expert [E][...] of one layer at sparsity s. */
export function selectNeurons(scores: Float64Array, experts: number, ffn: number, sparsity: number): number[][] {
  const count = neuronsDropped(ffn, sparsity);
  return Array.from({ length: experts }, (_, e) => lowestNeurons(scores, e, ffn, count));
}

/** The canonical keep-masks of one layer with `dropped[e]` neurons removed: gate_up [E, 2I, H], down [E, H, I]. */
export function neuronMasks(experts: number, ffn: number, hidden: number, dropped: readonly (readonly number[])[]): { gateUp: Uint32Array; down: Uint32Array } {
  const I = ffn;
  const H = hidden;
  const gateUp = allKeptMask(experts * 2 * I * H);
  const down = allKeptMask(experts * H * I);
  for (let e = 0; e < experts; e++) {
    for (const n of dropped[e]) {
      for (const row of [e * 2 * I + n, e * 2 * I + I + n]) for (let h = 0; h < H; h++) markPruned(gateUp, row * H + h);
      for (let h = 0; h < H; h++) markPruned(down, e * H * I + h * I + n);
    }
  }
  return { gateUp, down };
}

/** Which neurons a neuron-pruned mask set keeps: per MoE layer, per expert, a keep flag per neuron [I]. */
export interface NeuronStructure {
  /** I' = I - dropped, the same for every routed expert of every MoE layer. */
  ffn: number;
  kept: Map<number, Uint8Array[]>;
}

/**
 * The neuron structure of `masks` on a model of `spec`, or an error saying why the masks are not whole neurons
 * (a partly pruned row or column, a gate row whose up row or down column differs, experts or layers keeping
 * different counts, other matrices masked, dropped experts).
 */
export function neuronStructureOf(spec: MoeModelSpec, masks: MaskSet): NeuronStructure {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
  const kept = new Map<number, Uint8Array[]>();
  let keptCount: number | null = null;
  const refuse = (why: string): never => {
    throw new PruneRequestError(`the masks are not a neuron pruning: ${why}`);
  };
  spec.moeLayers.forEach((isMoe, l) => {
    const layer = masks.layers[l];
    if (!isMoe) {
      if (layer) refuse(`layer ${l} is not a MoE layer but has masks`);
      return;
    }
    const gateUp = layer?.matrices['experts.gate_up'];
    const down = layer?.matrices['experts.down'];
    if (!layer || !gateUp || !down) return refuse(`layer ${l} has no expert masks`);
    for (const key of Object.keys(layer.matrices)) if (key !== 'experts.gate_up' && key !== 'experts.down') refuse(`layers.${l}.${key} is masked`);
    if (layer.expertEnabled?.includes(0)) refuse(`layer ${l} drops experts`);
    // A row / column is whole when all its bits agree with the first.
    const rowState = (row: number): boolean => {
      const first = isKept(gateUp, row * H);
      for (let h = 1; h < H; h++) if (isKept(gateUp, row * H + h) !== first) refuse(`layers.${l}.experts.gate_up row ${row} is partly pruned`);
      return first;
    };
    const flags: Uint8Array[] = [];
    for (let e = 0; e < E; e++) {
      const keep = new Uint8Array(I);
      for (let n = 0; n < I; n++) {
        const gate = rowState(e * 2 * I + n);
        const up = rowState(e * 2 * I + I + n);
        for (let h = 0; h < H; h++)
          if (isKept(down, e * H * I + h * I + n) !== gate) refuse(`layers.${l}.experts.down column ${n} of expert ${e} differs from its gate row`);
        if (gate !== up) refuse(`expert ${e} of layer ${l}: gate row ${n} and up row ${n} differ`);
        keep[n] = gate ? 1 : 0;
      }
      const count = keep.reduce((a, b) => a + b, 0);
      if (keptCount === null) keptCount = count;
      else if (count !== keptCount) refuse(`expert ${e} of layer ${l} keeps ${count} neurons, others ${keptCount} (one FFN size for all)`);
      flags.push(keep);
    }
    kept.set(l, flags);
  });
  return { ffn: keptCount ?? I, kept };
}
