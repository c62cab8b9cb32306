/**
 * Host for shaders/moe/dispatch_count.wgsl: tokens routed to each expert, counts [E] u32, and each expert's token
 * bitmap [E, ceil(T / 32)] u32 that moe/dispatch_fill walks; NO_ROW for empty slots in rowOfSlot.
 * CPU reference: `dispatchPlan` in src/engine/reference/moe/dispatch.ts.
 */
import source from '../../../../shaders/moe/dispatch_count.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const dispatchCountKernel = defineKernel({ name: 'moe/dispatch_count', source });

/** Words of one expert's token bitmap: one bit per token. */
export function tokenBitmapWords(tokens: number): number {
  return Math.ceil(tokens / 32);
}

/** Bytes of the token bitmaps of E experts for up to `tokens` tokens. */
export function tokenBitmapBytes(tokens: number, experts: number): number {
  return experts * tokenBitmapWords(tokens) * 4;
}

export interface DispatchBuffers {
  expertIds: GPUBuffer; // [T * K] u32 (moe/route)
  counts: GPUBuffer; // [E] u32
  tokenBits: GPUBuffer; // at least tokenBitmapBytes(T, E)
  rowOfSlot: GPUBuffer; // [T * K] u32
  tokens: number;
  topK: number;
  experts: number;
}

/** Clears counts and bitmaps, then one invocation per assignment counts it and sets its token's bit. */
export function recordDispatchCount(rec: Recorder, a: DispatchBuffers): void {
  const words = tokenBitmapWords(a.tokens);
  rec.clear(a.counts, 0, a.experts * 4);
  rec.clear(a.tokenBits, 0, tokenBitmapBytes(a.tokens, a.experts));
  rec.dispatch(dispatchCountKernel, {
    bindings: { expert_ids: a.expertIds, counts: a.counts, token_bits: a.tokenBits, row_of_slot: a.rowOfSlot },
    params: { assignments: a.tokens * a.topK, top_k: a.topK, words },
    workgroups: grid1d(a.tokens * a.topK, 256),
  });
}
