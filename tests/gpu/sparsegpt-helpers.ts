/**
 * Runs SparseGPT on the GPU (factor + prune of a batch) and the f64 CPU reference on the same inputs, and measures
 * how they differ: masks bit by bit, weights on the rows whose masks agree (a different mask legitimately changes
 * every later OBS update of its row), per block pruned counts.
 */
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { decodeWeights, encodeWeights } from '../../src/engine/prune/packing.ts';
import { createRng } from '../../src/engine/random.ts';
import { hessianOf, scaledHessian, sparseGptReference } from '../../src/engine/reference/sparsegpt/matrix.ts';
import { referenceOptions, type SparseGptSettings } from '../../src/engine/sparsegpt/settings.ts';
import { maskWordCount } from '../../src/engine/model/keep-mask.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { checkFactorStatus, recordInverseHessianFactor } from '../../src/gpu/sparsegpt/factor.ts';
import { recordSparseGpt } from '../../src/gpu/sparsegpt/prune-matrices.ts';
import { withinErrorScopes } from './gpu-context.ts';

export interface SparseGptCase {
  label: string;
  rows: number; // R
  cols: number; // C
  /** [Z, R, C] values (rounded to `dtype` when packed). */
  weights: Float32Array;
  dtype: WeightDtype;
  share: number;
  /** Raw sums S [F, C, C] and rows behind each. */
  sums: Float32Array;
  tokens: number[];
}

export interface GpuSparseGpt {
  weights: Float32Array; // [Z, R, C] decoded from the output dtype
  mask: Uint32Array; // bitset over [Z, R, C]
  loss: Float32Array; // [Z, R]
  /** What the GPU read: the source values decoded from `dtype`. */
  seen: Float32Array;
}

const LEAD = 3; // elements before matrix 0 in every buffer: odd, so packed matrices start mid-word

/** The GPU path; buffers have LEAD elements of padding in front, which must come back untouched. */
export async function sparseGptOnGpu(ctx: GpuContext, settings: SparseGptSettings, c: SparseGptCase, maxTileRows?: number): Promise<GpuSparseGpt> {
  const { rows: R, cols: C, dtype } = c;
  const Z = c.weights.length / (R * C);
  const count = LEAD + Z * R * C;
  const padded = new Float32Array(count);
  padded.set(c.weights, LEAD);
  const bytes = encodeWeights(padded, dtype);
  const seen = decodeWeights(bytes, dtype, count).slice(LEAD);
  return withinErrorScopes(ctx, async () => {
    const source = await ctx.upload(`${c.label} source`, bytes);
    const output = await ctx.upload(`${c.label} output`, encodeWeights(new Float32Array(count).fill(7), dtype));
    const mask = await ctx.upload(`${c.label} mask`, new Uint32Array(maskWordCount(count)).fill(0xa5a5a5a5));
    const hessian = await ctx.upload(`${c.label} S`, c.sums);
    const rec = ctx.record('sparsegpt test');
    const { factor, release: releaseFactor } = recordInverseHessianFactor(ctx, rec, {
      label: c.label,
      hessian,
      cols: C,
      tokens: c.tokens,
      damp: settings.damp,
    });
    const { loss, release } = recordSparseGpt(ctx, rec, settings, {
      label: c.label,
      rows: R,
      cols: C,
      matrices: Z,
      share: c.share,
      source: { buffer: source, dtype, elementOffset: LEAD },
      output: { buffer: output, elementOffset: LEAD },
      mask: { buffer: mask, elementOffset: LEAD },
      factor,
      maxTileRows,
    });
    await rec.submit();
    try {
      await checkFactorStatus(ctx, factor, settings.damp);
      const out = decodeWeights(new Uint8Array(await ctx.read(output)), dtype, count);
      const words = await ctx.readU32(mask);
      if (out.subarray(0, LEAD).some((v) => v !== 7)) throw new Error(`${c.label}: output elements before the batch were overwritten`);
      if ((words[0] & 0b111) !== (0xa5a5a5a5 & 0b111)) throw new Error(`${c.label}: mask bits before the batch were overwritten`);
      // Shift the bitset so that bit 0 is the batch's first element.
      const shifted = new Uint32Array(maskWordCount(Z * R * C));
      for (let e = 0; e < Z * R * C; e++) if ((words[(e + LEAD) >>> 5] >>> ((e + LEAD) & 31)) & 1) shifted[e >>> 5] |= 1 << (e & 31);
      return { weights: out.slice(LEAD), mask: shifted, loss: await ctx.readF32(loss), seen };
    } finally {
      release();
      releaseFactor();
      factor.destroy();
      loss.destroy();
      for (const b of [source, output, mask, hessian]) b.destroy();
    }
  });
}

export interface Agreement {
  matrices: number;
  elements: number;
  maskDiffs: number; // elements whose keep bit differs
  rowsWithDiffs: number;
  /** max |w_gpu - w_ref| / rms(W) over rows whose masks agree. */
  maxWeightError: number;
  lossGpu: number;
  lossRef: number;
  reference: { weights: Float64Array; keep: Uint8Array }[];
}

/** The reference on each matrix of the case (with the GPU's decoded inputs) and how the GPU result compares. */
export function compareWithReference(settings: SparseGptSettings, c: SparseGptCase, got: GpuSparseGpt): Agreement {
  const { rows: R, cols: C } = c;
  const Z = c.weights.length / (R * C);
  const options = referenceOptions(settings);
  const result: Agreement = { matrices: Z, elements: Z * R * C, maskDiffs: 0, rowsWithDiffs: 0, maxWeightError: 0, lossGpu: 0, lossRef: 0, reference: [] };
  got.loss.forEach((l) => (result.lossGpu += l));
  const factors = new Map<number, Float64Array>();
  for (let z = 0; z < Z; z++) {
    const f = Math.floor(z / c.share);
    if (!factors.has(f)) factors.set(f, scaledHessian(c.sums.subarray(f * C * C, (f + 1) * C * C), C, c.tokens[f]));
    const W = got.seen.subarray(z * R * C, (z + 1) * R * C);
    const ref = sparseGptReference(W, R, C, factors.get(f)!, options);
    result.reference.push({ weights: ref.weights, keep: ref.keep });
    result.lossRef += ref.loss;
    let sumSq = 0;
    for (const w of W) sumSq += w * w;
    const rms = Math.sqrt(sumSq / W.length) || 1;
    for (let r = 0; r < R; r++) {
      let diffs = 0;
      for (let j = 0; j < C; j++) {
        const e = z * R * C + r * C + j;
        const keep = (got.mask[e >>> 5] >>> (e & 31)) & 1;
        if (keep !== ref.keep[r * C + j]) diffs++;
      }
      result.maskDiffs += diffs;
      if (diffs) {
        result.rowsWithDiffs++;
        continue;
      }
      for (let j = 0; j < C; j++) {
        const error = Math.abs(got.weights[z * R * C + r * C + j] - ref.weights[r * C + j]) / rms;
        result.maxWeightError = Math.max(result.maxWeightError, error);
      }
    }
  }
  return result;
}

/** Raw sums S = sum x x^T (f32) of n correlated rows; column `deadColumn` always 0 when given. */
export function rawSums(C: number, n: number, seed: number, deadColumn = -1): Float32Array {
  const rng = createRng(seed);
  const mix = Float64Array.from({ length: C * C }, () => rng.normal() / Math.sqrt(C));
  for (let i = 0; i < C; i++) mix[i * C + i] += 1;
  const x = new Float64Array(n * C);
  for (let t = 0; t < n; t++) {
    const z = Array.from({ length: C }, () => rng.normal());
    for (let j = 0; j < C; j++) {
      if (j === deadColumn) continue;
      for (let k = 0; k < C; k++) x[t * C + j] += z[k] * mix[k * C + j];
    }
  }
  // hessianOf scales by 2/n: undo it to get the raw sums the GPU accumulates.
  return Float32Array.from(hessianOf(x, n, C), (h) => (h * n) / 2);
}
