/**
 * SparseGPT's Hessian sums, accumulated on the GPU during calibration (only when sparsegpt is the method): per MoE
 * layer and routed expert, S_in = sum x x^T [H, H] over the expert's gathered inputs (the gate/up projections'
 * input) and S_inter = sum a a^T [I, I] over its intermediate a = act(gate(x)) * up(x) (the down projection's
 * input); the same for a shared expert over all tokens. Recorded at the forward's MoE tap (calibrateOnGpu's
 * onMoeTap), in f32 and a fixed order (shaders/sparsegpt/hessian_accumulate.wgsl). The 2/n scale is applied when
 * the factor is formed (factor.ts), with n the expert's routed tokens from the calibration statistics.
 *
 * Storage: E x (H^2 + I^2) x 4 bytes per layer (plus S^2 + H^2 for a shared expert), in slabs of experts that each
 * fit one storage binding together with the padded factor work matrices; an expert whose single [C, C] does not
 * fit a binding is refused with GpuError('limits') (docs/sparsegpt.md says what that means for big models).
 */
import type { MoeModelSpec } from '../../engine/model/spec.ts';
import type { GpuContext } from '../context.ts';
import { beyondLimits } from '../errors.ts';
import { recordHessianAccumulate } from '../kernels/sparsegpt/hessian_accumulate.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { MoeLayerTap } from '../model/taps.ts';
import { factorBatchBytes } from './factor.ts';

/** Sums of `segments` consecutive factors (experts firstSegment ..) in one buffer: S [segments, C, C] f32. */
export interface HessianSlab {
  buffer: GPUBuffer;
  firstSegment: number;
  segments: number;
  width: number; // C
}

export interface LayerHessians {
  layer: number;
  input: HessianSlab[]; // routed experts, C = H
  inter: HessianSlab[]; // routed experts, C = I
  sharedInput: HessianSlab | null; // C = H
  sharedInter: HessianSlab | null; // C = S
  /** Calibration tokens that went through the layer (the shared expert's n). */
  tokens: number;
}

/** Bytes of one layer's sums. */
export function hessianBytesPerLayer(spec: MoeModelSpec): number {
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
  const S = spec.sharedExpert?.ffnSize ?? 0;
  return 4 * (E * (H * H + I * I) + (S ? H * H + S * S : 0));
}

/** Experts per slab of width C: as many as keep [n, Cp, Cp] f32 within one binding. */
function slabSize(ctx: GpuContext, width: number, experts: number, what: string): number {
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  const perExpert = factorBatchBytes(1, width);
  if (perExpert > limit) throw beyondLimits(`${what}: one ${width} x ${width} Hessian (padded)`, perExpert, limit, 'maxStorageBufferBindingSize');
  return Math.min(experts, Math.floor(limit / perExpert));
}

async function allocateSlabs(ctx: GpuContext, label: string, width: number, experts: number): Promise<HessianSlab[]> {
  const per = slabSize(ctx, width, experts, label);
  const slabs: HessianSlab[] = [];
  try {
    for (let first = 0; first < experts; first += per) {
      const segments = Math.min(per, experts - first);
      slabs.push({
        buffer: await ctx.allocate(`${label} [${first}..${first + segments})`, segments * width * width * 4),
        firstSegment: first,
        segments,
        width,
      });
    }
  } catch (error) {
    for (const s of slabs) s.buffer.destroy();
    throw error;
  }
  return slabs;
}

export class HessianAccumulator {
  private readonly layers = new Map<number, LayerHessians>();
  /** [2] u32 (0, T): the one segment of a shared expert, per batch size T. */
  private readonly allTokens = new Map<number, GPUBuffer>();
  private cleared = new Set<GPUBuffer>();

  private constructor(
    private readonly model: GpuModel,
    private readonly withShared: boolean,
  ) {}

  /**
   * Sums for the MoE layers in `layers` (zeroed; the first record clears them). `shared`: sum the shared expert's
   * Hessians too (only when it is pruned: without them SparseGPT leaves it dense).
   */
  static async create(model: GpuModel, layers: number[], shared = true): Promise<HessianAccumulator> {
    const acc = new HessianAccumulator(model, shared);
    try {
      for (const l of layers) await acc.track(l);
    } catch (error) {
      acc.destroy();
      throw error;
    }
    return acc;
  }

  /** Starts sums for MoE layer l (sequential mode tracks one layer at a time). */
  async track(l: number): Promise<void> {
    const { ctx, spec } = this.model;
    if (!spec.moeLayers[l]) throw new RangeError(`layer ${l} is not an MoE layer`);
    const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
    const entry: LayerHessians = { layer: l, input: [], inter: [], sharedInput: null, sharedInter: null, tokens: 0 };
    this.layers.set(l, entry);
    entry.input = await allocateSlabs(ctx, `layers.${l}.experts input Hessians`, H, E);
    entry.inter = await allocateSlabs(ctx, `layers.${l}.experts intermediate Hessians`, I, E);
    // From the headers: a streamed model's layer l need not be on the GPU yet.
    const shared = this.model.matrixInfos[l]['shared.gate_up'] ? spec.sharedExpert : null;
    if (shared && this.withShared) {
      entry.sharedInput = (await allocateSlabs(ctx, `layers.${l}.shared input Hessian`, H, 1))[0];
      entry.sharedInter = (await allocateSlabs(ctx, `layers.${l}.shared intermediate Hessian`, shared.ffnSize, 1))[0];
    }
  }

  has(layer: number): boolean {
    return this.layers.has(layer);
  }

  of(layer: number): LayerHessians {
    const entry = this.layers.get(layer);
    if (!entry) throw new RangeError(`no Hessians were collected for layer ${layer}`);
    return entry;
  }

  /** At an MoE tap: records this batch's sums of its layer (when tracked) into the tap's recorder. */
  record(tap: MoeLayerTap): void {
    const entry = this.layers.get(tap.layer);
    if (!entry) return;
    const rec = tap.recorder;
    const clearOnce = (slab: HessianSlab | null) => {
      if (slab && !this.cleared.has(slab.buffer)) {
        rec.clear(slab.buffer);
        this.cleared.add(slab.buffer);
      }
    };
    entry.tokens += tap.tokens;
    for (const slab of entry.input) {
      clearOnce(slab);
      recordHessianAccumulate(rec, {
        rows: tap.input,
        width: tap.hidden,
        rowSlot: { buffer: tap.sortedRows, topK: tap.topK },
        offsets: tap.expertOffsets,
        firstSegment: slab.firstSegment,
        segments: slab.segments,
        totals: slab.buffer,
        label: `hessian layers.${tap.layer}.experts.input`,
      });
    }
    for (const slab of entry.inter) {
      clearOnce(slab);
      recordHessianAccumulate(rec, {
        rows: tap.inter,
        width: tap.expertFfn,
        offsets: tap.expertOffsets,
        firstSegment: slab.firstSegment,
        segments: slab.segments,
        totals: slab.buffer,
        label: `hessian layers.${tap.layer}.experts.inter`,
      });
    }
    if (entry.sharedInput && entry.sharedInter && tap.sharedInter) {
      clearOnce(entry.sharedInput);
      clearOnce(entry.sharedInter);
      const offsets = this.segmentOfAll(tap.tokens);
      recordHessianAccumulate(rec, { rows: tap.input, width: tap.hidden, offsets, segments: 1, totals: entry.sharedInput.buffer });
      recordHessianAccumulate(rec, { rows: tap.sharedInter, width: entry.sharedInter.width, offsets, segments: 1, totals: entry.sharedInter.buffer });
    }
  }

  private segmentOfAll(tokens: number): GPUBuffer {
    let buffer = this.allTokens.get(tokens);
    if (!buffer) {
      buffer = this.model.ctx.createBuffer('hessian all-token segment', 8);
      this.model.ctx.write(buffer, Uint32Array.of(0, tokens));
      this.allTokens.set(tokens, buffer);
    }
    return buffer;
  }

  /** Frees one layer's sums (after its factors were formed). */
  release(layer: number): void {
    const entry = this.layers.get(layer);
    if (!entry) return;
    for (const slab of [...entry.input, ...entry.inter, entry.sharedInput, entry.sharedInter]) slab?.buffer.destroy();
    this.layers.delete(layer);
  }

  destroy(): void {
    for (const l of [...this.layers.keys()]) this.release(l);
    for (const b of this.allTokens.values()) b.destroy();
    this.allTokens.clear();
  }
}
