/**
 * Pruning masks on the GPU: the host API the pruning pipeline calls. Validates the request (the same checks as
 * the CPU reference, src/engine/reference/prune/sorted-masks.ts, whose masks these match bit for bit), binds each matrix's
 * weights, column factors and mask range, and records the dispatches of its pattern and group:
 * - row groups: prune/row_select, one dispatch per matrix;
 * - N:M: prune/nm_select, one dispatch per matrix;
 * - matrix / layer groups: 3 x (group_histogram per matrix + group_pick), group_tie_count per matrix,
 *   group_tie_scan, group_mask per matrix — all in one submit.
 */
import { maskWordCount } from '../../engine/model/keep-mask.ts';
import { checkMatrixShapes, comparisonGroups, type PruneMatrixShape } from '../../engine/prune/plan.ts';
import { randomStreamKey } from '../../engine/prune/scores.ts';
import { checkSettings, prunedPerGroup, PruneRequestError, usesColumnFactors, type PruneSettings } from '../../engine/prune/settings.ts';
import type { WeightDtype } from '../../engine/model/spec.ts';
import type { GpuContext } from '../context.ts';
import { beyondLimits } from '../errors.ts';
import { recordCountKept } from '../kernels/prune/count_kept.ts';
import { recordGroupHistogram } from '../kernels/prune/group_histogram.ts';
import { recordGroupMask } from '../kernels/prune/group_mask.ts';
import { recordGroupPick } from '../kernels/prune/group_pick.ts';
import { recordGroupTieCount } from '../kernels/prune/group_tie_count.ts';
import { recordGroupTieScan } from '../kernels/prune/group_tie_scan.ts';
import { recordNmSelect } from '../kernels/prune/nm_select.ts';
import { recordRowSelect, type RowWords } from '../kernels/prune/row_select.ts';
import { groupChunks, RADIX_BINS, RADIX_PASSES, vec4LoadsAllowed, type ScoredMatrix } from '../kernels/prune/score.ts';
import type { Recorder } from '../recorder.ts';
import { WEIGHT_BYTES } from '../weights.ts';

export interface GpuPruneMatrix extends PruneMatrixShape {
  /** Packed weights (shaders/common/weights.wgsl) holding W [rows, cols] from element `weightOffset` on. */
  weights: GPUBuffer;
  weightOffset?: number;
  dtype: WeightDtype;
  /** [cols] f32 c_j = columnFactors(statistic) (src/engine/prune/scores.ts): wanda / moe-pruner only. */
  columnFactors: GPUBuffer | null;
  /** Where to write the keep-mask (words from `wordOffset`); by default a new buffer per matrix. */
  mask?: { buffer: GPUBuffer; wordOffset?: number };
}

/** Where one matrix's keep-mask bitset lives. */
export interface MaskSlot {
  buffer: GPUBuffer;
  wordOffset: number;
  words: number;
  elements: number;
  /** True when computeMasks created the buffer (the caller destroys it when done). */
  created: boolean;
}

/** Bytes [offset, offset + size) of a buffer bound at the largest storage-aligned offset below; base in words. */
interface BoundRange {
  binding: { buffer: GPUBuffer; offset: number; size: number };
  baseWord: number;
}

function bindRange(ctx: GpuContext, buffer: GPUBuffer, byteOffset: number, byteLength: number, what: string): BoundRange {
  const limits = ctx.caps.limits;
  const offset = Math.floor(byteOffset / limits.minStorageBufferOffsetAlignment) * limits.minStorageBufferOffsetAlignment;
  const end = Math.ceil((byteOffset + byteLength) / 4) * 4;
  if (end > buffer.size) throw new PruneRequestError(`${what}: needs bytes up to ${end} of buffer '${buffer.label}', which has ${buffer.size}`);
  if (end - offset > limits.maxStorageBufferBindingSize)
    throw beyondLimits(what, end - offset, limits.maxStorageBufferBindingSize, 'maxStorageBufferBindingSize');
  return { binding: { buffer, offset, size: end - offset }, baseWord: (byteOffset - offset) / 4 };
}

/**
 * Never-read stand-in for the column factors of magnitude and random and for score.wgsl's 16-byte views where they
 * are not used (every binding needs a buffer; 16 bytes: one vec4).
 */
const placeholders = new WeakMap<GpuContext, GPUBuffer>();
function placeholder(ctx: GpuContext): GPUBuffer {
  let buffer = placeholders.get(ctx);
  if (!buffer) {
    buffer = ctx.createBuffer('prune column factors (unused)', 16);
    placeholders.set(ctx, buffer);
  }
  return buffer;
}

interface PreparedMatrix {
  scored: ScoredMatrix;
  mask: MaskSlot;
  maskBinding: BoundRange;
}

function prepare(ctx: GpuContext, settings: PruneSettings, m: GpuPruneMatrix, index: number): PreparedMatrix {
  const elements = m.rows * m.cols;
  const weightOffset = m.weightOffset ?? 0;
  const bytes = WEIGHT_BYTES[m.dtype];
  // Kernels index elements and mask bits in u32 (word * 32 + 32 included): 2^31 weights leave room.
  if (elements > 2 ** 31) throw new PruneRequestError(`${m.label}: ${elements} weights; the GPU path takes at most 2^31 per matrix`);
  if (!Number.isInteger(weightOffset) || weightOffset < 0 || weightOffset + elements > 0xffffffff) {
    throw new PruneRequestError(`${m.label}: weight offset ${weightOffset} is not a u32 element index for ${elements} weights`);
  }
  // Bind from the word holding the first element; the weight base counts elements from the bound offset.
  const firstWordByte = Math.floor((weightOffset * bytes) / 4) * 4;
  const weights = bindRange(ctx, m.weights, firstWordByte, (weightOffset + elements) * bytes - firstWordByte, `${m.label} weights`);
  const weightBase = weightOffset - weights.binding.offset / bytes;
  let columnFactors: BoundRange['binding'] | GPUBuffer = placeholder(ctx);
  if (usesColumnFactors(settings.method)) {
    if (!m.columnFactors) throw new PruneRequestError(`${m.label}: ${settings.method} needs column factors (sqrt of the input statistic)`);
    columnFactors = bindRange(ctx, m.columnFactors, 0, m.cols * 4, `${m.label} column factors`).binding;
  }
  // score.wgsl's 16-byte views of the same ranges, where score_keys8 may use them: then the weights' range starts
  // and ends on 16-byte boundaries (weightBase and rows x cols multiples of 4 f32 or 8 f16 / bf16).
  const vec4Loads = vec4LoadsAllowed(settings.method, m.dtype, m.cols, weightBase);
  const weightsVec4 = vec4Loads ? weights.binding : placeholder(ctx);
  const columnFactorsVec4 = vec4Loads ? columnFactors : placeholder(ctx);
  const words = maskWordCount(elements);
  const created = !m.mask;
  const buffer = m.mask?.buffer ?? ctx.createBuffer(`mask ${m.label}`, words * 4);
  const wordOffset = m.mask?.wordOffset ?? 0;
  const maskBinding = bindRange(ctx, buffer, wordOffset * 4, words * 4, `${m.label} mask`);
  return {
    scored: {
      weights: weights.binding,
      weightBase,
      dtype: m.dtype,
      columnFactors,
      rows: m.rows,
      cols: m.cols,
      streamKey: randomStreamKey(settings.seed, m.randomStream ?? index),
      vec4Loads,
      weightsVec4,
      columnFactorsVec4,
    },
    mask: { buffer, wordOffset, words, elements, created },
    maskBinding,
  };
}

/** Kernel shapes that change no mask bit, for tests of the shape another device would take. */
export interface MaskKernelOptions {
  /** Mask words per invocation of row_select's keys-in-registers way (the device's by default: ROW_SELECT_WORDS). */
  rowWords?: RowWords;
}

/**
 * Records the keep-masks of `matrices` under `settings` into `rec` (nothing is submitted); returns where each
 * mask goes and a cleanup for the scratch buffers, to call once the recorded work has run.
 */
export function recordMasks(
  ctx: GpuContext,
  rec: Recorder,
  settings: PruneSettings,
  matrices: readonly GpuPruneMatrix[],
  kernel: MaskKernelOptions = {},
): { masks: MaskSlot[]; release: () => void } {
  checkSettings(settings);
  checkMatrixShapes(settings, matrices);
  const prepared = matrices.map((m, i) => prepare(ctx, settings, m, i));
  const { method, pattern, group, sparsity } = settings;
  const masks = prepared.map((p) => p.mask);
  if (pattern.kind === 'n:m') {
    for (const p of prepared) {
      recordNmSelect(rec, method, p.scored, pattern.n, pattern.m, p.maskBinding.binding, p.maskBinding.baseWord);
    }
    return { masks, release: () => {} };
  }
  if (group === 'row') {
    for (const p of prepared) {
      // Words shared by two rows are OR-ed: start them from zero.
      if (p.scored.cols % 32) rec.clear(p.mask.buffer, p.mask.wordOffset * 4, p.mask.words * 4);
      recordRowSelect(rec, method, p.scored, prunedPerGroup(p.scored.cols, sparsity), p.maskBinding.binding, p.maskBinding.baseWord, kernel.rowWords);
    }
    return { masks, release: () => {} };
  }
  return { masks, release: recordGroupSelect(ctx, rec, settings, comparisonGroups(group, matrices), prepared) };
}

/** Matrix and layer groups: global radix select with a deterministic tie fill (see the file comment). */
function recordGroupSelect(ctx: GpuContext, rec: Recorder, settings: PruneSettings, groups: number[][], prepared: PreparedMatrix[]): () => void {
  if (groups.length > ctx.caps.limits.maxComputeWorkgroupsPerDimension) {
    throw new PruneRequestError(`${groups.length} comparison groups in one request; at most ${ctx.caps.limits.maxComputeWorkgroupsPerDimension}`);
  }
  const groupOf = new Array<number>(prepared.length);
  const chunkBase = new Array<number>(prepared.length);
  const state = new Uint32Array(2 * groups.length); // [groups, 2]: threshold prefix (0), rank (k)
  const ranges = new Uint32Array(2 * groups.length); // [groups, 2]: first chunk, chunk count
  let chunks = 0;
  groups.forEach((members, g) => {
    ranges[2 * g] = chunks;
    let elements = 0;
    for (const i of members) {
      groupOf[i] = g;
      chunkBase[i] = chunks;
      chunks += groupChunks(prepared[i].mask.elements);
      elements += prepared[i].mask.elements;
    }
    ranges[2 * g + 1] = chunks - ranges[2 * g];
    state[2 * g + 1] = prunedPerGroup(elements, settings.sparsity);
  });
  const groupState = ctx.createBuffer('prune group state', state.byteLength);
  const groupRanges = ctx.createBuffer('prune group chunks', ranges.byteLength);
  const histograms = ctx.createBuffer('prune histograms', groups.length * RADIX_BINS * 4);
  const tieCounts = ctx.createBuffer('prune tie counts', chunks * 4);
  ctx.write(groupState, state);
  ctx.write(groupRanges, ranges);
  rec.clear(histograms);
  const { method } = settings;
  for (let pass = 0; pass < RADIX_PASSES; pass++) {
    prepared.forEach((p, i) => recordGroupHistogram(rec, method, p.scored, groupOf[i], pass, groupState, histograms));
    recordGroupPick(rec, groups.length, pass, groupState, histograms);
  }
  prepared.forEach((p, i) => recordGroupTieCount(rec, method, p.scored, groupOf[i], chunkBase[i], groupState, tieCounts));
  recordGroupTieScan(rec, groups.length, groupRanges, tieCounts);
  prepared.forEach((p, i) =>
    recordGroupMask(rec, method, p.scored, groupOf[i], chunkBase[i], groupState, tieCounts, p.maskBinding.binding, p.maskBinding.baseWord),
  );
  return () => {
    for (const b of [groupState, groupRanges, histograms, tieCounts]) b.destroy();
  };
}

/** Computes the keep-masks of `matrices` under `settings` and submits; resolves once submitted. */
export async function computeMasks(
  ctx: GpuContext,
  settings: PruneSettings,
  matrices: readonly GpuPruneMatrix[],
  kernel: MaskKernelOptions = {},
): Promise<MaskSlot[]> {
  const rec = ctx.record('prune masks');
  const { masks, release } = recordMasks(ctx, rec, settings, matrices, kernel);
  await rec.submit();
  void ctx.device.queue.onSubmittedWorkDone().then(release);
  return masks;
}

/** Kept weights per mask (popcount on the GPU), for achieved-sparsity reports; waits for the GPU. */
export async function countKeptOnGpu(ctx: GpuContext, masks: readonly MaskSlot[]): Promise<number[]> {
  if (masks.length === 0) return [];
  const counts = ctx.createBuffer('prune kept counts', masks.length * 4);
  try {
    const rec = ctx.record('prune count kept');
    rec.clear(counts);
    masks.forEach((m, slot) => {
      const range = bindRange(ctx, m.buffer, m.wordOffset * 4, m.words * 4, `mask ${slot}`);
      recordCountKept(rec, range.binding, range.baseWord, m.elements, counts, slot);
    });
    await rec.submit();
    return Array.from(await ctx.readU32(counts));
  } finally {
    counts.destroy();
  }
}

/** A mask's words back on the CPU (for reports, exports and tests). */
export async function readMask(ctx: GpuContext, mask: MaskSlot): Promise<Uint32Array> {
  return ctx.readU32(mask.buffer, mask.wordOffset * 4, mask.words * 4);
}
