/**
 * Runs one pruning request through the GPU (src/gpu/prune/compute-masks.ts) and the CPU reference
 * (src/engine/reference/prune/sorted-masks.ts) and compares the masks bit for bit, naming the first differing weights.
 * Weights of one dtype share one buffer at unaligned element offsets and all masks share one buffer, as the
 * stacked expert layout will, so offsets and partial words are exercised on every call.
 */
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { maskWordCount } from '../../src/engine/model/keep-mask.ts';
import { decodeWeights, encodeWeights } from '../../src/engine/prune/packing.ts';
import { pruneMasksReference, scoreKeysReference, type ReferenceMatrix, type ReferenceResult } from '../../src/engine/reference/prune/sorted-masks.ts';
import { columnFactors } from '../../src/engine/prune/scores.ts';
import { patternName, usesColumnFactors, type PruneSettings } from '../../src/engine/prune/settings.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { computeMasks, type GpuPruneMatrix, type MaskKernelOptions } from '../../src/gpu/prune/compute-masks.ts';

export interface PruneCase {
  label: string;
  rows: number;
  cols: number;
  dtype: WeightDtype;
  /** [rows, cols] values; rounded to `dtype` when packed (the reference sees the rounded values). */
  values: Float32Array;
  /** [cols] squared-norm statistic (the column factors are its rounded square roots). */
  statistic: Float32Array;
  layerGroup?: number;
  randomStream?: number;
}

/** Element offset of the first matrix in its weight buffer: odd, so f16/bf16 matrices start mid-word. */
const LEADING_ELEMENTS = 3;

interface Packed {
  stored: Float32Array; // values as the GPU reads them
  factors: Float32Array;
}

interface PackedBuffer {
  bytes: Uint8Array;
  /** Everything in `bytes`, decoded once. */
  stored: Float32Array;
  offsets: number[];
}

/**
 * alignElements: every matrix starts at a multiple of this many elements (1: right after the previous one, the
 * first at LEADING_ELEMENTS). 64 puts each f32 matrix on a 256-byte boundary (f16 / bf16 on 128 bytes), so that
 * row_select and nm_select read whole-row words through score.wgsl's 16-byte views (vec4LoadsAllowed).
 */
function pack(cases: PruneCase[], alignElements: number): { packed: Packed[]; buffers: Map<WeightDtype, PackedBuffer> } {
  const aligned = (at: number) => Math.ceil(at / alignElements) * alignElements;
  const buffers = new Map<WeightDtype, PackedBuffer>();
  const packed: Packed[] = [];
  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    const members = cases.filter((c) => c.dtype === dtype);
    if (!members.length) continue;
    const offsets: number[] = [];
    let at = LEADING_ELEMENTS;
    for (const c of members) {
      at = aligned(at);
      offsets.push(at);
      at += c.values.length;
    }
    const total = at;
    const all = new Float32Array(total);
    members.forEach((c, i) => all.set(c.values, offsets[i]));
    const bytes = encodeWeights(all, dtype);
    buffers.set(dtype, { bytes, stored: decodeWeights(bytes, dtype, total), offsets });
  }
  const seen = new Map<WeightDtype, number>();
  for (const c of cases) {
    const index = seen.get(c.dtype) ?? 0;
    seen.set(c.dtype, index + 1);
    const buffer = buffers.get(c.dtype)!;
    const start = buffer.offsets[index];
    const stored = buffer.stored.subarray(start, start + c.values.length);
    packed.push({ stored, factors: columnFactors(c.statistic, `${c.label} statistic`) });
  }
  return { packed, buffers };
}

export interface BothMasks {
  gpu: Uint32Array[];
  reference: ReferenceResult;
  /** What the reference was given: the stored (rounded) values and the column factors. */
  inputs: ReferenceMatrix[];
}

/** Masks from the GPU and from the reference for the same request. */
export async function bothMasks(
  ctx: GpuContext,
  settings: PruneSettings,
  cases: PruneCase[],
  alignElements = 1,
  kernel: MaskKernelOptions = {},
): Promise<BothMasks> {
  const { packed, buffers } = pack(cases, alignElements);
  const created: GPUBuffer[] = [];
  const weightBuffers = new Map<WeightDtype, GPUBuffer>();
  for (const [dtype, { bytes }] of buffers) {
    const buffer = await ctx.upload(`weights ${dtype}`, bytes);
    weightBuffers.set(dtype, buffer);
    created.push(buffer);
  }
  const maskWords = cases.map((c) => maskWordCount(c.rows * c.cols));
  // One word of slack before each mask: a kernel writing outside its range shows up as a mismatch.
  const maskBuffer = ctx.createBuffer('masks', maskWords.reduce((n, w) => n + w + 1, 0) * 4);
  created.push(maskBuffer);
  const seen = new Map<WeightDtype, number>();
  let wordOffset = 1;
  const matrices: GpuPruneMatrix[] = [];
  for (const [i, c] of cases.entries()) {
    const index = seen.get(c.dtype) ?? 0;
    seen.set(c.dtype, index + 1);
    let factors: GPUBuffer | null = null;
    if (usesColumnFactors(settings.method)) {
      factors = await ctx.upload(`factors ${c.label}`, packed[i].factors);
      created.push(factors);
    }
    matrices.push({
      label: c.label,
      rows: c.rows,
      cols: c.cols,
      layerGroup: c.layerGroup,
      randomStream: c.randomStream,
      weights: weightBuffers.get(c.dtype)!,
      weightOffset: buffers.get(c.dtype)!.offsets[index],
      dtype: c.dtype,
      columnFactors: factors,
      mask: { buffer: maskBuffer, wordOffset },
    });
    wordOffset += maskWords[i] + 1;
  }
  // Poison the masks: every bit the kernels should write is then checked, including zeros.
  ctx.write(maskBuffer, new Uint32Array(maskBuffer.size / 4).fill(0xa5a5a5a5));
  try {
    const slots = await computeMasks(ctx, settings, matrices, kernel);
    const all = await ctx.readU32(maskBuffer);
    const gpu = slots.map((s) => all.slice(s.wordOffset, s.wordOffset + s.words));
    const inputs = cases.map((c, i) => ({
      ...c,
      weights: packed[i].stored,
      columnFactors: usesColumnFactors(settings.method) ? packed[i].factors : null,
    }));
    return { gpu, reference: pruneMasksReference(settings, inputs), inputs };
  } finally {
    for (const b of created) b.destroy();
  }
}

function describeSettings(s: PruneSettings): string {
  return `${s.method} ${patternName(s.pattern)} group=${s.group} sparsity=${s.sparsity} seed=${s.seed}`;
}

/** Throws naming the first differing weights (matrix, row, column, key, expected and got) of the first bad matrix. */
export function expectSameMasks(settings: PruneSettings, cases: PruneCase[], both: BothMasks): void {
  for (const [i, c] of cases.entries()) {
    const got = both.gpu[i];
    const want = both.reference.masks[i];
    const bad: string[] = [];
    for (let w = 0; w < want.length && bad.length < 6; w++) {
      const diff = (got[w] ^ want[w]) >>> 0;
      if (!diff) continue;
      const keys = scoreKeysReference(settings, both.inputs[i], i);
      for (let b = 0; b < 32 && bad.length < 6; b++) {
        if (!((diff >>> b) & 1)) continue;
        const e = w * 32 + b;
        const keep = (want[w] >>> b) & 1;
        bad.push(
          `  [${Math.floor(e / c.cols)}, ${e % c.cols}] key 0x${keys[e]?.toString(16)} reference ${keep ? 'keeps' : 'prunes'}, GPU ${keep ? 'prunes' : 'keeps'} (word ${w}: 0x${got[w].toString(16)} vs 0x${want[w].toString(16)})`,
        );
      }
    }
    if (bad.length) throw new Error(`${describeSettings(settings)}: ${c.label} [${c.rows}, ${c.cols}] ${c.dtype} differs:\n${bad.join('\n')}`);
  }
}
