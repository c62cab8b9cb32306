/**
 * Every GPU buffer of a training run, sized once for a fixed step shape (B windows of S tokens, T = B S):
 * the flat parameters, their transposed copies, gradients and AdamW moments; the activations each layer keeps for
 * its backward; the backward's scratch, shared by all layers. Nothing is allocated per step.
 */
import type { ParamLayout } from '../../engine/train/config.ts';
import { headDim } from '../../engine/train/config.ts';
import type { GpuContext } from '../context.ts';
import { NORM_LANES } from '../kernels/train/adamw.ts';
import { expertRowCapacity } from '../kernels/train/moe_dispatch.ts';

/** What layer l keeps from its forward. */
export interface LayerActivations {
  input: GPUBuffer; // [T, H] residual stream entering the layer
  rstd1: GPUBuffer; // [T]
  norm1: GPUBuffer; // [T, H]
  qkv: GPUBuffer; // [T, 3H], q and k rotated
  kT: GPUBuffer; // [B, heads, D, S]
  vT: GPUBuffer; // [B, heads, D, S]
  probs: GPUBuffer; // [B, heads, S, S] attention weights P
  attn: GPUBuffer; // [T, H] attention output before o_proj
  mid: GPUBuffer; // [T, H] residual stream after attention
  rstd2: GPUBuffer; // [T]
  norm2: GPUBuffer; // [T, H] MoE input
  routerLogits: GPUBuffer; // [T, E]
  routerProbs: GPUBuffer; // [T, E]
  chosen: GPUBuffer; // [T, K] u32
  gates: GPUBuffer; // [T, K]
  table: GPUBuffer; // [2E] u32 segment starts, counts
  rowSlot: GPUBuffer; // [R] u32
  slotRow: GPUBuffer; // [T, K] u32
  xRows: GPUBuffer; // [R, H] expert inputs
  gu: GPUBuffer; // [R, 2I]
  act: GPUBuffer; // [R, I]
  yRows: GPUBuffer; // [R, H] expert outputs
}

export interface BackwardScratch {
  dh: GPUBuffer; // [T, H] gradient of the residual stream
  dNorm: GPUBuffer; // [T, H] gradient of a norm's output
  dAttn: GPUBuffer; // [T, H]
  dProbs: GPUBuffer; // [B, heads, S, S]
  dQkv: GPUBuffer; // [T, 3H]
  dYRows: GPUBuffer; // [R, H]
  dAct: GPUBuffer; // [R, I]
  dGu: GPUBuffer; // [R, 2I]
  dXRows: GPUBuffer; // [R, H]
  dGates: GPUBuffer; // [T, K]
  dRouterLogits: GPUBuffer; // [T, E]
}

/** Step shape: letters as everywhere (T tokens, H hidden, ...), plus B windows and R expert rows. */
export interface StepShape {
  B: number;
  S: number;
  T: number;
  H: number;
  heads: number;
  D: number;
  E: number;
  K: number;
  I: number;
  V: number;
  L: number;
  R: number;
}

export function stepShape(layout: ParamLayout, windows: number): StepShape {
  const c = layout.config;
  const T = windows * c.contextLength;
  return {
    B: windows,
    S: c.contextLength,
    T,
    H: c.hiddenSize,
    heads: c.numHeads,
    D: headDim(c),
    E: c.numExperts,
    K: c.topK,
    I: c.expertFfnSize,
    V: c.vocabSize,
    L: c.numLayers,
    R: expertRowCapacity(T, c.topK, c.numExperts),
  };
}

/** Slots of the `sums` buffer: per-step losses and gradient norms of a logging interval, then evaluation sums. */
export const LOG_SLOTS = 256;

export class TrainBuffers {
  readonly all: GPUBuffer[] = [];
  readonly params: GPUBuffer; // [P]
  readonly paramsT: GPUBuffer; // [P] transposed matrices at the same offsets
  readonly grads: GPUBuffer; // [P]
  readonly moments: GPUBuffer; // [2P]
  readonly adamStats: GPUBuffer; // [1 + NORM_LANES]
  readonly ropeTable: GPUBuffer; // [S, D/2, 2]
  readonly ids: GPUBuffer; // [T] u32
  readonly targets: GPUBuffer; // [T] u32
  readonly embedOrder: GPUBuffer; // [T] u32
  readonly embedStarts: GPUBuffer; // [V + 1] u32
  readonly logits: GPUBuffer; // [T, V] (dL/dz after the loss)
  readonly tokenLoss: GPUBuffer; // [T]
  /** [3 * LOG_SLOTS]: step mean loss, gradient norm, evaluation batch mean loss. */
  readonly sums: GPUBuffer;
  readonly routerStats: GPUBuffer; // [L, 2E]: P_e then assignment counts
  readonly finalRstd: GPUBuffer; // [T]
  readonly finalNorm: GPUBuffer; // [T, H]
  /** The residual stream after the last layer [T, H]. */
  readonly output: GPUBuffer;
  readonly unused: GPUBuffer; // bound where a kernel entry point ignores a binding
  readonly layers: LayerActivations[];
  readonly scratch: BackwardScratch;

  constructor(
    ctx: GpuContext,
    readonly layout: ParamLayout,
    readonly shape: StepShape,
  ) {
    const f32 = (label: string, count: number) => {
      const buffer = ctx.createBuffer(label, count * 4);
      this.all.push(buffer);
      return buffer;
    };
    const { T, H, E, K, I, V, R, B, S, heads, D, L } = shape;
    const P = layout.count;
    this.params = f32('params', P);
    this.paramsT = f32('params transposed', P);
    this.grads = f32('grads', P);
    this.moments = f32('adam moments', 2 * P);
    this.adamStats = f32('adam stats', 1 + NORM_LANES);
    this.ropeTable = f32('rope table', S * D);
    this.ids = f32('ids', T);
    this.targets = f32('targets', T);
    this.embedOrder = f32('embed order', T);
    this.embedStarts = f32('embed starts', V + 1);
    this.logits = f32('logits', T * V);
    this.tokenLoss = f32('token loss', T);
    this.sums = f32('sums', 3 * LOG_SLOTS);
    this.routerStats = f32('router stats', L * 2 * E);
    this.finalRstd = f32('final rstd', T);
    this.finalNorm = f32('final norm', T * H);
    this.output = f32('output', T * H);
    this.unused = f32('unused', 4);
    const attention = B * heads * S * S;
    // Layer l + 1's input is layer l's output: one buffer, so the combine kernel writes it in place of a copy.
    const inputs = Array.from({ length: L }, (_, l) => f32(l === 0 ? 'embeddings' : `l${l} input`, T * H));
    this.layers = Array.from({ length: L }, (_, l) => ({
      input: inputs[l],
      rstd1: f32(`l${l} rstd1`, T),
      norm1: f32(`l${l} norm1`, T * H),
      qkv: f32(`l${l} qkv`, T * 3 * H),
      kT: f32(`l${l} kT`, B * heads * D * S),
      vT: f32(`l${l} vT`, B * heads * D * S),
      probs: f32(`l${l} attention probs`, attention),
      attn: f32(`l${l} attention out`, T * H),
      mid: f32(`l${l} mid`, T * H),
      rstd2: f32(`l${l} rstd2`, T),
      norm2: f32(`l${l} norm2`, T * H),
      routerLogits: f32(`l${l} router logits`, T * E),
      routerProbs: f32(`l${l} router probs`, T * E),
      chosen: f32(`l${l} chosen`, T * K),
      gates: f32(`l${l} gates`, T * K),
      table: f32(`l${l} dispatch table`, 2 * E),
      rowSlot: f32(`l${l} row slot`, R),
      slotRow: f32(`l${l} slot row`, T * K),
      xRows: f32(`l${l} expert inputs`, R * H),
      gu: f32(`l${l} gate-up`, R * 2 * I),
      act: f32(`l${l} act`, R * I),
      yRows: f32(`l${l} expert outputs`, R * H),
    }));
    this.scratch = {
      dh: f32('d residual', T * H),
      dNorm: f32('d norm', T * H),
      dAttn: f32('d attention out', T * H),
      dProbs: f32('d attention probs', attention),
      dQkv: f32('d qkv', T * 3 * H),
      dYRows: f32('d expert outputs', R * H),
      dAct: f32('d act', R * I),
      dGu: f32('d gate-up', R * 2 * I),
      dXRows: f32('d expert inputs', R * H),
      dGates: f32('d gates', T * K),
      dRouterLogits: f32('d router logits', T * E),
    };
  }

  /** The residual stream leaving layer l (the next layer's input, or `output`). */
  layerOutput(l: number): GPUBuffer {
    return l + 1 < this.shape.L ? this.layers[l + 1].input : this.output;
  }

  destroy(): void {
    for (const b of this.all) b.destroy();
    this.all.length = 0;
  }
}
