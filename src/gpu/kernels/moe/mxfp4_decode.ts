/**
 * Host for shaders/moe/mxfp4_decode.wgsl: gpt-oss's MXFP4 expert blocks + scales, as the checkpoint stores them,
 * decoded on the GPU into the canonical f32 expert matrix [E, R, C] (gate_up de-interleaved).
 * CPU reference: `decodeMxfp4Experts` in src/engine/model/mxfp4.ts.
 */
import source from '../../../../shaders/moe/mxfp4_decode.wgsl';
import { MXFP4_GROUP } from '../../../engine/model/mxfp4.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const mxfp4DecodeKernel = defineKernel({ name: 'moe/mxfp4_decode', source });

/** Codes per blocks word (two a byte, four bytes a word): one thread's share. */
const CODES_PER_WORD = 8;

export interface Mxfp4DecodeArgs {
  blocks: GPUBuffer; // [E, R, C/32, 16] u8
  scales: GPUBuffer; // [E, R, C/32] u8
  decoded: GPUBuffer; // [E, R, C] f32
  experts: number;
  rows: number;
  cols: number;
  /** gpt-oss's gate_up: stored rows alternate gate and up. */
  interleaved: boolean;
}

export function recordMxfp4Decode(rec: Recorder, a: Mxfp4DecodeArgs): void {
  if (a.cols % MXFP4_GROUP) throw new RangeError(`MXFP4 rows must be a multiple of ${MXFP4_GROUP} wide (got ${a.cols})`);
  const words = (a.experts * a.rows * a.cols) / CODES_PER_WORD;
  rec.dispatch(mxfp4DecodeKernel, {
    bindings: { blocks: a.blocks, scales: a.scales, decoded: a.decoded },
    params: { words, rows: a.rows, cols: a.cols },
    constants: { INTERLEAVED: a.interleaved },
    workgroups: grid1d(words, 256),
  });
}
