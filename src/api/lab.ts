/**
 * What the lab computes on a loaded model, as the Engine interface carries it (src/api/engine.ts): texts,
 * calibration, the router inspector, perplexity, generation and the per-token loss view. Plain structured-cloneable
 * data (typed arrays included), the same in Node and across the worker boundary. Shapes use the project's letters:
 * T tokens, E experts, K top-k, L layers.
 */

import type { CalibrationMode, ExperimentPrune, PruneMethod, PruneTarget } from '../engine/experiment/schema.ts';
import type { TextRef } from '../engine/experiment/text-ref.ts';
import type { FidelityResult } from '../engine/eval/fidelity.ts';
import type { LayerCriteria } from '../engine/calibration/expert-criteria.ts';
import type { ExpertSwitch } from '../engine/model/steering.ts';
import type { BenchmarkRequest } from './benchmarks.ts';
import type { MaskComparison } from '../engine/prune/mask-compare.ts';
import type { PruneAccounting } from '../engine/prune/accounting.ts';
import type { QuantBits } from '../engine/quantize/quantized-matrix.ts';

/** Which text a computation reads (pasted and uploaded texts are first given to the engine with Engine.addText). */
export type { TextRef };
/** One switched-off expert (steering): layer index or '*' for every MoE layer, and expert index. */
export type { ExpertSwitch };

/** One of the page's texts, with its genres when it has a document index (Brown). */
export interface TextInfo {
  id: string;
  name: string;
  bytes: number;
  genres: { id: string; name: string; documents: number }[];
}

/** A pasted or uploaded text the engine now holds. */
export interface AddedText {
  hash: string;
  bytes: number;
}

/** The settings' value sets are the vocabulary's (src/engine/experiment/vocabulary.ts), through the schema's types. */
export type CalibrationModeName = CalibrationMode;

export interface CalibrationRequest {
  text: TextRef;
  /** N windows of L tokens at seeded random starts (src/engine/calibration/sampling.ts). */
  samples: number;
  seqLen: number;
  seed: number;
}

export interface CalibrationLayerSummary {
  layer: number;
  expertTokens: Float32Array; // [E] tokens routed to each expert
  expertGateSum: Float32Array; // [E] sum of g
  /** Share of the T*K assignments each expert got, and its spread (router-health.ts). */
  loadFraction: number[]; // [E]
  coefficientOfVariation: number;
  maxOverMean: number;
  lowLoadExperts: number[];
  /** Experts under MIN_EXPERT_TOKENS calibration tokens: their statistics are unreliable (expert-criteria.ts). */
  lowCoverageExperts: number[];
  /** [E] max |expert output| over the calibration tokens (NaN: statistics from before it was recorded). */
  expertOutputAbsMax: number[];
  /** Super experts (Su et al. 2025): max |output| above SUPER_EXPERT_FACTOR x the layer's median. */
  superExperts: number[];
  /** Frequency, mean gate, REAP, EAN and mean output norm per expert, their ranks and rank correlations. */
  criteria: LayerCriteria;
}

export interface CalibrationSummary {
  /** Calibration tokens that went through the model (N * L). */
  tokens: number;
  windows: number;
  seqLen: number;
  /** Tokens of the whole text the windows were drawn from. */
  textTokens: number;
  mode: CalibrationModeName;
  layers: CalibrationLayerSummary[];
  seconds: number;
}

/** Dense weights, or the weights under the current pruning masks. */
export type Variant = 'dense' | 'pruned';

export interface InspectRequest {
  text: TextRef;
  /** Tokens of the text routed (the first ones), at most the model's context. */
  tokens: number;
  /** Also route the first tokens of every genre of the text (or of every page text when it has none). */
  bySource: boolean;
}

/** Bins of the gate-weight histograms: g in [0, 1]. */
export const GATE_BINS = 20;
/** Bins of the router entropy ([0, ln E] nats) and top-1/top-2 margin ([0, 1]) histograms. */
export const HEALTH_BINS = 20;

/** One MoE layer's routing of the inspected tokens. */
export interface LayerRoutingView {
  layer: number;
  expertIds: Uint32Array; // [T, K] in the family's slot order; 0xffffffff for an empty slot
  gates: Float32Array; // [T, K]
  entropy: Float32Array; // [T] nats
  margin: Float32Array; // [T] p(1) - p(2)
  /** Share of the T*K assignments per expert. */
  load: number[]; // [E]
  /** Histogram of g per expert over [0, gateMax], GATE_BINS bins. */
  gateHistogram: number[][]; // [E][GATE_BINS]
  /** The largest g the routing rule gives: 1, or routed_scaling_factor (grouped-topk; at least 1). */
  gateMax: number;
  /** Tokens that chose both experts; diagonal: tokens that chose the expert. */
  coactivation: number[]; // [E * E]
  entropyHistogram: number[]; // [HEALTH_BINS] over [0, ln E]
  marginHistogram: number[]; // [HEALTH_BINS] over [0, 1]
  meanEntropy: number;
  meanMargin: number;
  /**
   * Grouped-topk routers (DeepSeek, GLM-4.5): the score of each chosen slot [T, K] (sigmoid or softmax of its logit,
   * before renormalizing and routed_scaling_factor); null for the other rules.
   */
  scores: Float32Array | null;
  /**
   * Routers with e_score_correction_bias: the K experts the scores alone would pick [T, K] (no bias), and how many
   * tokens the bias moved to another set. Null without a bias.
   */
  biasChoice: { scoreOnly: Uint32Array; changed: number } | null;
}

export interface RoutingView {
  variant: Variant;
  layers: LayerRoutingView[]; // MoE layers only, ascending
}

/** Expert load of one source (a genre, or a whole text). */
export interface SourceLoad {
  id: string;
  name: string;
  tokens: number;
  /** [MoE layer][E] share of assignments, dense then (when pruned) pruned. */
  dense: number[][];
  pruned: number[][] | null;
}

/** How routing moved between the dense and the pruned model on the same tokens. */
export interface LayerDrift {
  layer: number;
  /** Tokens whose top-1 expert changed. */
  top1Changed: number;
  /** Tokens whose set of K chosen experts changed. */
  setChanged: number;
  /** Mean over tokens of |dense g - pruned g| summed over experts (0: identical routing, 2: disjoint). */
  gateDistance: number;
}

export interface RoutingReport {
  text: TextRef;
  /** The text of each routed token (decoded on its own), for the token view. */
  tokenTexts: string[]; // [T]
  numExperts: number; // E
  topK: number; // K
  dense: RoutingView;
  /** Present when masks are set: the same tokens through the pruned model. */
  pruned: RoutingView | null;
  drift: LayerDrift[] | null;
  sources: SourceLoad[];
}

export interface EvaluateRequest {
  text: TextRef;
  /** Window length (tokens); non-overlapping windows as Wanda and SparseGPT evaluate. */
  ctx: number;
  /** Tokens read in all; with genres, split evenly over them. */
  maxTokens: number;
  /** Score each genre of the text on its own (texts with a document index). */
  byGenre: boolean;
  variants: Variant[];
}

export interface PerplexityNumbers {
  /** Tokens scored. */
  tokens: number;
  /** Mean NLL, nats. */
  nll: number;
  ppl: number;
}

export interface VariantPerplexity {
  variant: Variant;
  overall: PerplexityNumbers;
  genres: ({ id: string; name: string } & PerplexityNumbers)[];
}

/**
 * How closely the pruned model follows the dense one on the same scored positions (src/engine/eval/fidelity.ts):
 * mean KL(p_dense || p_pruned) in nats per token, top-1 agreement, first disagreement per window.
 */
export interface EvaluateFidelity {
  overall: FidelityResult;
  /** Per genre when evaluated per genre, else []. */
  genres: ({ id: string; name: string } & FidelityResult)[];
}

export interface EvaluateReport {
  text: TextRef;
  ctx: number;
  results: VariantPerplexity[];
  /** Present when both dense and pruned were evaluated (one comparison on the GPU, src/gpu/eval/fidelity.ts). */
  fidelity: EvaluateFidelity | null;
  seconds: number;
}

export type Sampling = { kind: 'greedy' } | { kind: 'sample'; seed: number; temperature: number };

export interface GenerateRequest {
  prompt: string;
  maxNewTokens: number;
  sampling: Sampling;
  variant: Variant;
  /** Experts switched off for this call on top of the variant's masks (steering, src/engine/model/steering.ts). */
  disabledExperts?: ExpertSwitch[];
  /** Experts forced for this call: every token of the layer routed to that expert alone with gate 1 (steering). */
  forcedExperts?: ExpertSwitch[];
}

export interface GenerateResult {
  variant: Variant;
  sampling: Sampling;
  promptTokens: number;
  /** The new tokens, each decoded on its own. */
  tokenTexts: string[];
  /** The new text, decoded in one piece. */
  text: string;
  stoppedAtEos: boolean;
  /** The NEXT_TOKEN_CHOICES most probable first new tokens (decoded) and their probabilities, most probable first. */
  nextTokens: { text: string; p: number }[];
}

/** How many next-token probabilities a generation reports (the page's side-by-side view). */
export const NEXT_TOKEN_CHOICES = 5;

export interface TokenLossRequest {
  text: TextRef;
  tokens: number;
}

export interface TokenLossReport {
  tokenTexts: string[]; // [T]
  /** NLL of token t given tokens < t (NaN for t = 0), nats. */
  dense: Float32Array; // [T]
  pruned: Float32Array | null; // [T]
}

export type PruneMethodName = PruneMethod;
export type PruneTargetName = PruneTarget;

/**
 * Everything a pruning run depends on; the same request on the same model gives the same masks. The pruning fields
 * are the experiment's (ExperimentPrune, from the settings vocabulary), so a new pruning setting needs no change here.
 */
export interface PruneRequest extends Omit<ExperimentPrune, 'sparseGpt' | 'protect' | 'structure'> {
  /** The statistics to score with (dense ones are reused when they match; sequential mode always recomputes). */
  calibration: CalibrationRequest & { mode: CalibrationModeName };
  /** SparseGPT's block width and dampening (method sparsegpt; absent: the defaults). */
  sparseGpt?: ExperimentPrune['sparseGpt'];
  /** Experts kept whole (absent: the vocabulary's default, none): a request written before the setting means the same. */
  protect?: ExperimentPrune['protect'];
  /** Single weights or whole expert neurons (absent: the vocabulary's default, unstructured). */
  structure?: ExperimentPrune['structure'];
}

/** Weights pruned in one matrix kind or one expert. */
export interface SparsityCount {
  name: string;
  weights: number;
  pruned: number;
}

export interface LayerPruneSummary {
  layer: number;
  /** Target sparsity of the layer (OWL varies it per layer; uniform: the request's). */
  target: number;
  /** Per matrix kind (experts gate/up/down, attention q/k/v/o, shared gate/up/down). */
  matrices: SparsityCount[];
  /** Per routed expert ([] for dense layers); a dropped expert counts as wholly pruned. */
  experts: SparsityCount[];
  droppedExperts: number[];
}

export interface PruneSummary {
  method: PruneMethodName;
  /** Present when pruning had to calibrate first (no matching statistics, or sequential mode). */
  calibration: CalibrationSummary | null;
  /** Over every weight of the pruned targets. */
  overall: SparsityCount;
  layers: LayerPruneSummary[];
  seconds: number;
  /** Neuron pruning: the expert FFN size I and what every routed expert keeps, I'. */
  neurons?: { ffn: number; keptFfn: number };
  /** Bytes on disk, on the GPU and read per token, dense vs pruned (src/engine/prune/accounting.ts). */
  accounting?: PruneAccounting;
}

/** Compare the masks in force with the masks `other` would make (the masks in force stay). */
export interface CompareMasksRequest {
  other: PruneRequest;
}

/** Where the masks in force (a) and the other request's (b) prune different weights (src/engine/prune/mask-compare.ts). */
export interface MaskComparisonReport {
  a: PruneMethodName;
  b: PruneMethodName;
  comparison: MaskComparison;
}

/**
 * One point of a sweep: the pruned model's perplexity under one method and sparsity (the masks in force stay), or,
 * with `quantize` instead of `prune`, round-to-nearest at that many bits on the routed experts under the masks in
 * force (the quantization in force stays; docs/quantization.md).
 */
export interface SweepPointRequest {
  prune?: PruneRequest;
  quantize?: { bits: QuantBits };
  evaluate: Omit<EvaluateRequest, 'variants' | 'byGenre'>;
  /** Also score these benchmark items (the Benchmarks step's selection) under the point's masks: BLiMP accuracy as a sweep metric. */
  benchmark?: Pick<BenchmarkRequest, 'tasks' | 'limit'>;
}

export interface SweepPointResult {
  /** The pruning method, or 'rtn' for a quantization point. */
  method: PruneMethodName | 'rtn';
  /** A quantization point's width. */
  bits?: QuantBits;
  /** The sparsity asked for (a quantization point: 0). */
  sparsity: number;
  /** Achieved sparsity over the pruned targets. */
  achieved: number;
  perplexity: PerplexityNumbers;
  /** The pruned model against the dense one on the same windows. */
  fidelity: FidelityResult;
  /** With `benchmark` in the request: acc over its items (docs/evaluation.md). */
  benchmark?: { accuracy: number; items: number };
  /**
   * Weight bytes on disk of the dense model and of this point's export (the prune report's accounting, docs/pruning.md
   * "Accounting": masks save nothing, dropped experts and removed neurons do; a quantization point: the quantize
   * report's). Absent where the pipeline gave no accounting.
   */
  diskBytes?: { dense: number; pruned: number };
}

/** A file the page offers for download. */
export interface ExportFile {
  path: string;
  bytes: Uint8Array;
}

/** What to download: the statistics, the masks, the pruned model folder, or the report; `zip` packs the files. */
export interface ExportRequest {
  kind: 'statistics' | 'masks' | 'model' | 'report';
  zip: boolean;
  /**
   * kind 'model' only: a folder of the File System Access API (the page's "save to folder") that the engine writes
   * the files into as they stream, tensor by tensor, instead of returning them (the answer is then empty).
   */
  folder?: FileSystemDirectoryHandle;
}
