/**
 * The tap point of every MoE layer, for calibration statistics and other instruments that must see the forward
 * from inside without changing it. `onMoeLayer` is called while the layer is being recorded, right after its
 * MoE block: kernels recorded into `recorder` then run in the same command buffer, after the block and before
 * the next layer overwrites these buffers (they are reused by every layer, so record, do not keep).
 * Counts and offsets live only on the GPU: kernels read them there (no readback, no CPU round trip).
 */
import type { Recorder } from '../recorder.ts';

export interface MoeLayerTap {
  layer: number;
  recorder: Recorder;
  tokens: number; // T
  hidden: number; // H
  experts: number; // E
  topK: number; // K
  expertFfn: number; // I
  /** Most tiles the expert tile list can hold (its length is 1 + 2 * maxTiles words). */
  maxTiles: number;
  /** [T, H] f32: the MoE block's input (after post_attention_layernorm); the experts' gate/up input. */
  input: GPUBuffer;
  /** [T, E] f32: router logits (before dropped experts are masked). */
  routerLogits: GPUBuffer;
  /** [T, K] u32: the chosen experts in the family's slot order; 0xffffffff for a slot left empty. */
  expertIds: GPUBuffer;
  /** [T, K] f32: g(t, e), the weight the architecture multiplies each chosen expert's output by. */
  gates: GPUBuffer;
  /** [E] u32: tokens routed to each expert. */
  expertCounts: GPUBuffer;
  /** [E + 1] u32: first gathered row of each expert; [E] = routed rows in all. */
  expertOffsets: GPUBuffer;
  /**
   * [T * K] u32, first expertOffsets[E] used: the assignment a = t * K + slot of each gathered row, grouped by
   * expert, ascending in t within an expert. Row r's token is sortedRows[r] / K, its gate gates[sortedRows[r]].
   */
  sortedRows: GPUBuffer;
  /** [T * K] u32: the gathered row of assignment a (0xffffffff for an empty slot). */
  rowOfSlot: GPUBuffer;
  /** [1 + 2 * maxTiles] u32: tile count, then (expert, first row) per 64-row tile of the grouped GEMMs. */
  tiles: GPUBuffer;
  /** [rows, I] f32 in gathered order: act(gate(x)) * up(x), the down projection's input. */
  inter: GPUBuffer;
  /** [rows, H] f32 in gathered order: each expert's output before weighting by its gate. */
  expertOutput: GPUBuffer;
  /** Shared expert (Qwen2-MoE): [T, S] intermediate and [T] gate logit (sigmoid gives its weight). */
  sharedInter: GPUBuffer | null;
  sharedGateLogit: GPUBuffer | null;
  /** [T, H] f32: the MoE block's output (shared expert included), before the residual add. */
  output: GPUBuffer;
}

export type MoeLayerHook = (tap: MoeLayerTap) => void;
