/**
 * Running totals of one MoE layer's calibration statistics on the GPU: one buffer per layer, one section per
 * statistic of stats.ts. Counts (expert tokens, co-activation, histogram bins) are u32 — exact, and the only
 * values that use atomics; everything else is f32 written by exactly one invocation per element (no float
 * atomics, so totals repeat bit for bit). Sections start on 256-byte boundaries so any of them can be bound on its
 * own (minStorageBufferOffsetAlignment). `readLayerTotals` brings every layer back with one copy and one map.
 */
import { HISTOGRAM_BINS, emptyLayerStats, type ExpertStats, type LayerStats } from '../../engine/calibration/stats.ts';
import { attentionOutputWidth, type MoeModelSpec } from '../../engine/model/spec.ts';
import type { GpuContext } from '../context.ts';
import type { BufferBinding } from '../recorder.ts';

/** Statistics sections, in buffer order. `u32` ones hold integer counts. */
const SECTIONS = [
  'expertTokens', // u32 [E]
  'expertGateSum', // [E]
  'expertOutputNormGatedSum', // [E]
  'expertOutputNormSum', // [E]
  'expertOutputAbsMax', // [E] running max
  'coactivation', // u32 [E, E]
  'routerHistograms', // u32 [2, B]: entropy, margin
  'expertInput', // [E, H] plain then gated (one binding for column_sqnorm)
  'expertInter', // [E, I] plain then gated
  'sharedInput', // [H] plain then gated
  'sharedInter', // [S] plain then gated
  'attnInput', // [H]
  'attnOInput', // [Hq*D]
  'attnQBInput', // [rq] MLA with a q LoRA: q_b_proj's input
  'attnKvBInput', // [r] MLA: kv_b_proj's input
] as const;

export type TotalsSection = (typeof SECTIONS)[number];

const ALIGN_ELEMENTS = 64; // 256 bytes

export interface TotalsLayout {
  /** Element offset and length of each section (length 0: absent, e.g. no shared expert). */
  sections: Record<TotalsSection, { at: number; length: number }>;
  elements: number;
}

export function totalsLayout(spec: MoeModelSpec): TotalsLayout {
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
  const S = spec.sharedExpert?.ffnSize ?? 0;
  const lengths: Record<TotalsSection, number> = {
    expertTokens: E,
    expertGateSum: E,
    expertOutputNormGatedSum: E,
    expertOutputNormSum: E,
    expertOutputAbsMax: E,
    coactivation: E * E,
    routerHistograms: 2 * HISTOGRAM_BINS,
    expertInput: 2 * E * H,
    expertInter: 2 * E * I,
    sharedInput: S ? 2 * H : 0,
    sharedInter: 2 * S,
    attnInput: H,
    attnOInput: attentionOutputWidth(spec),
    attnQBInput: spec.mla?.qLoraRank ?? 0,
    attnKvBInput: spec.mla?.kvLoraRank ?? 0,
  };
  let at = 0;
  const sections = {} as TotalsLayout['sections'];
  for (const name of SECTIONS) {
    sections[name] = { at, length: lengths[name] };
    at += Math.ceil(lengths[name] / ALIGN_ELEMENTS) * ALIGN_ELEMENTS;
  }
  return { sections, elements: at };
}

/** One MoE layer's totals buffer and its layout. */
export class LayerTotals {
  private constructor(
    readonly layout: TotalsLayout,
    readonly buffer: GPUBuffer,
  ) {}

  static async create(ctx: GpuContext, spec: MoeModelSpec, layer: number): Promise<LayerTotals> {
    const layout = totalsLayout(spec);
    const buffer = await ctx.allocate(`calibration totals, layer ${layer}`, layout.elements * 4);
    const rec = ctx.record('clear calibration totals');
    rec.clear(buffer);
    await rec.submit();
    return new LayerTotals(layout, buffer);
  }

  /** A section as a binding of its own (sections are 256-byte aligned). */
  binding(section: TotalsSection): BufferBinding {
    const { at, length } = this.layout.sections[section];
    return { buffer: this.buffer, offset: at * 4, size: Math.max(4, length * 4) };
  }

  /** Element offset of a section inside the whole buffer (for kernels that bind the whole buffer). */
  at(section: TotalsSection): number {
    return this.layout.sections[section].at;
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

/** Statistics from one layer's totals as read back (`words`: the whole buffer). */
export function layerStatsFromTotals(spec: MoeModelSpec, layout: TotalsLayout, words: ArrayBuffer): LayerStats {
  const f32 = new Float32Array(words);
  const u32 = new Uint32Array(words);
  const section = (name: TotalsSection, part = 0, parts = 1) => {
    const { at, length } = layout.sections[name];
    const size = length / parts;
    return { f32: f32.subarray(at + part * size, at + (part + 1) * size), u32: u32.subarray(at + part * size, at + (part + 1) * size) };
  };
  const { hiddenSize: H, expertFfnSize: I } = spec;
  const stats = emptyLayerStats(spec);
  stats.expertTokens.set(section('expertTokens').u32);
  stats.expertGateSum.set(section('expertGateSum').f32);
  stats.expertOutputNormGatedSum.set(section('expertOutputNormGatedSum').f32);
  stats.expertOutputNormSum.set(section('expertOutputNormSum').f32);
  stats.expertOutputAbsMax.set(section('expertOutputAbsMax').f32);
  stats.coactivation.set(section('coactivation').u32);
  stats.routerEntropyHist.set(section('routerHistograms', 0, 2).u32);
  stats.routerMarginHist.set(section('routerHistograms', 1, 2).u32);
  const input = [section('expertInput', 0, 2).f32, section('expertInput', 1, 2).f32];
  const inter = [section('expertInter', 0, 2).f32, section('expertInter', 1, 2).f32];
  stats.experts.forEach((x: ExpertStats, e) => {
    x.inputSqNorm.set(input[0].subarray(e * H, (e + 1) * H));
    x.inputSqNormGated.set(input[1].subarray(e * H, (e + 1) * H));
    x.interSqNorm.set(inter[0].subarray(e * I, (e + 1) * I));
    x.interSqNormGated.set(inter[1].subarray(e * I, (e + 1) * I));
  });
  if (stats.shared) {
    // An ungated shared expert has g = 1: its gated totals are the plain ones (layer-statistics.ts skips them).
    const gatedPart = spec.sharedExpert?.gated ? 1 : 0;
    stats.shared.inputSqNorm.set(section('sharedInput', 0, 2).f32);
    stats.shared.inputSqNormGated.set(section('sharedInput', gatedPart, 2).f32);
    stats.shared.interSqNorm.set(section('sharedInter', 0, 2).f32);
    stats.shared.interSqNormGated.set(section('sharedInter', gatedPart, 2).f32);
  }
  stats.attnInputSqNorm.set(section('attnInput').f32);
  stats.attnOInputSqNorm.set(section('attnOInput').f32);
  stats.attnQBInputSqNorm?.set(section('attnQBInput').f32);
  stats.attnKvBInputSqNorm?.set(section('attnKvBInput').f32);
  return stats;
}

/** Reads every layer's totals back with one staging buffer and one map; null layers stay null. */
export async function readLayerTotals(ctx: GpuContext, spec: MoeModelSpec, totals: (LayerTotals | null)[]): Promise<(LayerStats | null)[]> {
  const present = totals.filter((t): t is LayerTotals => t !== null);
  if (present.length === 0) return totals.map(() => null);
  const bytes = present.reduce((n, t) => n + t.buffer.size, 0);
  const staging = ctx.device.createBuffer({ label: 'calibration readback', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = ctx.device.createCommandEncoder({ label: 'calibration readback' });
    let at = 0;
    for (const t of present) {
      encoder.copyBufferToBuffer(t.buffer, 0, staging, at, t.buffer.size);
      at += t.buffer.size;
    }
    ctx.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    ctx.throwIfFailed();
    const all = staging.getMappedRange().slice(0);
    at = 0;
    return totals.map((t) => {
      if (!t) return null;
      const stats = layerStatsFromTotals(spec, t.layout, all.slice(at, at + t.buffer.size));
      at += t.buffer.size;
      return stats;
    });
  } finally {
    staging.destroy();
  }
}
