/**
 * moe/mxfp4_decode against its CPU reference (decodeMxfp4Experts, model/mxfp4.ts), bit for bit: random blocks
 * (every E2M1 code, both signs) and scales over the range whose products stay normal f32, gate_up-style
 * interleaved rows and plain ones; then the GPU model's decoded experts on the MXFP4 gpt_oss fixture equal the CPU
 * loader's (readGptOssExperts) bit for bit, and the GPU bytes of the upload are counted.
 */
import { describe, expect, it } from 'vitest';
import { readGptOssExperts } from '../../src/engine/model/expert-layout.ts';
import { decodeMxfp4Experts, MXFP4_GROUP } from '../../src/engine/model/mxfp4.ts';
import { createRng } from '../../src/engine/random.ts';
import { recordMxfp4Decode } from '../../src/gpu/kernels/moe/mxfp4_decode.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { Recorder } from '../../src/gpu/recorder.ts';
import { openFixture } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

/** Float32 arrays equal bit for bit (so +0 and -0 differ, as the codes do). */
function expectBitEqual(got: Float32Array, want: Float32Array, label: string): void {
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const first = a.findIndex((v, i) => v !== b[i]);
  expect(first, `${label}: element ${first} is ${got[first]}, want ${want[first]}`).toBe(-1);
  expect(got.length).toBe(want.length);
}

describe('moe/mxfp4_decode', () => {
  it.each([
    { experts: 3, rows: 6, cols: 64, interleaved: true },
    { experts: 2, rows: 5, cols: 96, interleaved: false },
  ])('equals decodeMxfp4Experts bit for bit (%o)', async (shape) => {
    const ctx = await gpu();
    const rng = createRng(7);
    const elements = shape.experts * shape.rows * shape.cols;
    const blocks = Uint8Array.from({ length: elements / 2 }, () => Math.floor(rng.next() * 256));
    // E8M0 exponents 127 +- 40: every product a normal f32 (subnormal ones may flush to zero on a GPU).
    const scales = Uint8Array.from({ length: elements / MXFP4_GROUP }, () => 87 + Math.floor(rng.next() * 81));
    const got = await withinErrorScopes(ctx, async () => {
      const b = await ctx.upload('blocks', blocks);
      const s = await ctx.upload('scales', scales);
      const decoded = await ctx.allocate('decoded', elements * 4);
      const rec = new Recorder(ctx, 'mxfp4 decode test');
      recordMxfp4Decode(rec, { blocks: b, scales: s, decoded, ...shape });
      await rec.submit();
      const out = await ctx.readF32(decoded);
      for (const buffer of [b, s, decoded]) buffer.destroy();
      return out;
    });
    expectBitEqual(got, decodeMxfp4Experts(blocks, scales, shape), `decode ${JSON.stringify(shape)}`);
  });

  it('decodes the MXFP4 gpt_oss fixture on upload exactly as the CPU loader does', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture('gpt_oss_mxfp4');
    const { numLayers, numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
    const before = ctx.memory.resident;
    const { got, gpuBytes } = await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint);
      try {
        const layers = [];
        for (let l = 0; l < numLayers; l++) {
          const experts = model.layers[l].experts!;
          layers.push({ gateUp: await ctx.readF32(experts.gateUp.buffer), down: await ctx.readF32(experts.down.buffer) });
        }
        return { got: layers, gpuBytes: ctx.memory.resident - before };
      } finally {
        model.destroy();
      }
    });
    let expertBytes = 0;
    for (let l = 0; l < numLayers; l++) {
      const want = await readGptOssExperts(checkpoint, l);
      expectBitEqual(got[l].gateUp, want.gateUp, `layer ${l} gate_up`);
      expectBitEqual(got[l].down, want.down, `layer ${l} down`);
      expertBytes += (want.gateUp.length + want.down.length) * 4;
    }
    const packedBytes = (numLayers * E * 3 * I * H * 17) / 32; // 16 block bytes + 1 scale byte per 32 weights
    console.log(`gpt_oss_mxfp4 on the GPU: ${gpuBytes} bytes held after upload, experts ${expertBytes} f32 (MXFP4 on disk: ${packedBytes})`);
    expect(gpuBytes).toBeGreaterThan(expertBytes);
  });
});
