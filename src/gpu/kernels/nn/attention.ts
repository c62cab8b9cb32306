/**
 * Host for shaders/nn/attention.wgsl: causal GQA over B windows of S tokens, flash-style online softmax, with
 * gpt_oss's sliding window and attention sinks as options. On CPU drivers with subgroups of 8 (GpuContext.matrix.attention),
 * nn/attention_subgroup instead (same bindings' meaning, same result to rounding).
 * CPU reference: `causalAttention` in src/engine/reference/ops.ts.
 */
import source from '../../../../shaders/nn/attention.wgsl';
import { GpuError } from '../../errors.ts';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { attentionSubgroupKernel } from './attention_subgroup.ts';

export const attentionKernel = defineKernel({ name: 'nn/attention', source });

/** MAX_HEAD_DIM in the shader: q and the accumulator of one row live in registers. */
export const MAX_HEAD_DIM = 256;
/** KV_TILE_MAX and MAX_BLOCK_KEYS in the shader: floats per key/value tile, keys per tile. */
export const KV_TILE_MAX = 2048;
export const MAX_BLOCK_KEYS = 32;

/** KV_TILE for head dim D with `keys` keys per tile: whole keys, at most KV_TILE_MAX floats. */
export function attentionTile(headDim: number, keys: number): number {
  return Math.min(KV_TILE_MAX, Math.min(keys, MAX_BLOCK_KEYS) * headDim);
}
const BLOCK_Q = 64;

export interface AttentionArgs {
  q: GPUBuffer; // [T, Hq, D]
  k: GPUBuffer; // [T, Hkv, D]
  v: GPUBuffer; // [T, Hkv, D]
  out: GPUBuffer; // [T, Hq, D]
  windows: number; // B
  seqLen: number; // S (T = B * S)
  heads: number;
  kvHeads: number;
  headDim: number;
  scale: number;
  /** gpt_oss: a sliding window w (query t sees keys t-w+1..t); null or absent: full causal. */
  sliding?: number | null;
  /** gpt_oss: per-head sink logits [Hq] that join each softmax's denominator. */
  sinks?: GPUBuffer | null;
  /** nn/attention's keys per key/value tile; by default the device's (GpuContext.matrix.attentionTileKeys). */
  tileKeys?: number;
}

export function recordAttention(rec: Recorder, a: AttentionArgs): void {
  if (a.headDim > MAX_HEAD_DIM || a.headDim % 2 !== 0) {
    throw new GpuError('limits', `attention supports even head dims up to ${MAX_HEAD_DIM} (this model has ${a.headDim})`);
  }
  if (a.heads % a.kvHeads !== 0) throw new Error(`attention: ${a.heads} query heads are not a multiple of ${a.kvHeads} kv heads`);
  if (rec.subgroupAttention) {
    const bindings = { x: a.q, weight: a.k, keep_mask: a.k, v: a.v, out: a.out, sinks: a.sinks ?? a.q };
    const params = { seq_len: a.seqLen, heads: a.heads, kv_heads: a.kvHeads, scale: a.scale, sliding: a.sliding ?? 0, head_dim: a.headDim };
    // One subgroup of 8 lanes per workgroup, BLOCK_Q query rows, 8 at a time (f32 k: WEIGHT_DTYPE 0, two per step).
    const constants = { LANES: 8, SG_STEP: 8, TILE_M: BLOCK_Q, PAIRED: true, WEIGHT_DTYPE: 0, HAS_SINKS: Boolean(a.sinks) };
    rec.dispatch(attentionSubgroupKernel, { bindings, params, constants, workgroups: [Math.ceil(a.seqLen / BLOCK_Q), a.heads, a.windows] });
    return;
  }
  rec.dispatch(attentionKernel, {
    // Without sinks the binding is never read: q stands in for it.
    bindings: { q: a.q, k: a.k, v: a.v, out: a.out, sinks: a.sinks ?? a.q },
    params: { seq_len: a.seqLen, heads: a.heads, kv_heads: a.kvHeads, scale: a.scale, sliding: a.sliding ?? 0 },
    constants: { BLOCK_Q, HEAD_DIM: a.headDim, HAS_SINKS: Boolean(a.sinks), KV_TILE: attentionTile(a.headDim, a.tileKeys ?? rec.attentionTileKeys) },
    workgroups: [Math.ceil(a.seqLen / BLOCK_Q), a.heads, a.windows],
  });
}
