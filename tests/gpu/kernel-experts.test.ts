/**
 * Expert dispatch (moe/dispatch_count, dispatch_plan, dispatch_fill), the grouped SwiGLU GEMMs
 * (moe/expert_gate_up, moe/expert_down, gathered and dense) and moe/combine against the CPU reference, with both
 * matrix kernels (the *_subgroup kernels where the device has subgroups, the workgroup-tile fallback).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { createRng, type Rng } from '../../src/engine/random.ts';
import { dispatchPlan } from '../../src/engine/reference/moe/dispatch.ts';
import { combineReference } from '../../src/engine/reference/moe/combine.ts';
import { swiglu } from '../../src/engine/reference/ops.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { COMBINE_SPAN, recordCombine } from '../../src/gpu/kernels/moe/combine.ts';
import { recordDispatchCount, tokenBitmapBytes } from '../../src/gpu/kernels/moe/dispatch_count.ts';
import { recordDispatchFill } from '../../src/gpu/kernels/moe/dispatch_fill.ts';
import { maxExpertTiles, recordDispatchPlan } from '../../src/gpu/kernels/moe/dispatch_plan.ts';
import { recordExpertDown } from '../../src/gpu/kernels/moe/expert_down.ts';
import { recordExpertGateUp } from '../../src/gpu/kernels/moe/expert_gate_up.ts';
import { GEMM_TILE } from '../../src/gpu/kernels/nn/matmul.ts';
import { NO_EXPERT } from '../../src/gpu/kernels/moe/route.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpuWithMatrixKernels, withinErrorScopes } from './gpu-context.ts';
import { DTYPES, f64, normals, randomMask, uploadWeights } from './kernel-harness.ts';

/** K distinct experts per token, expert 0 favoured (more than one tile), expert E-1 never, some empty slots. */
function randomAssignments(rng: Rng, T: number, E: number, K: number): Uint32Array {
  const ids = new Uint32Array(T * K);
  for (let t = 0; t < T; t++) {
    const chosen = new Set<number>();
    for (let slot = 0; slot < K; slot++) {
      let e: number;
      do e = slot === 0 && rng.next() < 0.9 ? 0 : rng.int(E - 1);
      while (chosen.has(e));
      chosen.add(e);
      ids[t * K + slot] = t % 13 === 5 && slot === K - 1 ? NO_EXPERT : e;
    }
  }
  return ids;
}

async function readAll<Name extends string>(ctx: GpuContext, buffers: Record<Name, GPUBuffer>): Promise<Record<Name, ArrayBuffer>> {
  const out = {} as Record<Name, ArrayBuffer>;
  for (const name of Object.keys(buffers) as Name[]) out[name] = await ctx.read(buffers[name]);
  return out;
}

describe.each(['subgroup', 'tile'] as const)('kernel moe/dispatch + grouped expert GEMMs + combine (%s kernels)', (kind) => {
  const [T, E, K, H, I] = [75, 5, 2, 37, 45];

  it.each(DTYPES)('routes, gathers, runs every expert (%s weights, masks) and combines like the reference', async (dtype: WeightDtype) => {
    const ctx = await gpuWithMatrixKernels(kind);
    const rng = createRng(5);
    const ids = randomAssignments(rng, T, E, K);
    const x = normals(rng, T * H);
    const gateUp = normals(rng, E * 2 * I * H, 1 / Math.sqrt(H));
    const down = normals(rng, E * H * I, 1 / Math.sqrt(I));
    const gates = Float32Array.from({ length: T * K }, () => rng.next());
    const sharedOut = normals(rng, T * H);
    const sharedLogit = normals(rng, T, 2);
    const plan = dispatchPlan(ids, E, GEMM_TILE);
    expect(plan.counts[0]).toBeGreaterThan(GEMM_TILE);
    expect(plan.counts[E - 1]).toBe(0);
    const maxTiles = maxExpertTiles(T * K, E);
    const gateUpMask = randomMask(rng, gateUp.length);
    const downMask = randomMask(rng, down.length);

    const got = await withinErrorScopes(ctx, async () => {
      const gu = await uploadWeights(ctx, gateUp, dtype, gateUpMask);
      const dn = await uploadWeights(ctx, down, dtype, downMask);
      const [idb, xb, gb, sb, slb] = await Promise.all([
        ctx.upload('ids', ids),
        ctx.upload('x', x),
        ctx.upload('gates', gates),
        ctx.upload('shared out', sharedOut),
        ctx.upload('shared logit', sharedLogit),
      ]);
      const buffers = {
        counts: ctx.createBuffer('counts', E * 4),
        offsets: ctx.createBuffer('offsets', (E + 1) * 4),
        tokenBits: ctx.createBuffer('token bits', tokenBitmapBytes(T, E)),
        tiles: ctx.createBuffer('tiles', (1 + 2 * maxTiles) * 4),
        sortedRows: ctx.createBuffer('sorted rows', T * K * 4),
        rowOfSlot: ctx.createBuffer('row of slot', T * K * 4),
        inter: ctx.createBuffer('inter', T * K * I * 4),
        expertOut: ctx.createBuffer('expert out', T * K * H * 4),
        out: ctx.createBuffer('out', T * H * 4),
      };
      const rec = ctx.record();
      const dispatch = { expertIds: idb, tokenBits: buffers.tokenBits, rowOfSlot: buffers.rowOfSlot, tokens: T, topK: K, experts: E };
      recordDispatchCount(rec, { ...dispatch, counts: buffers.counts });
      recordDispatchPlan(rec, buffers.counts, buffers.offsets, buffers.tiles, E);
      recordDispatchFill(rec, { ...dispatch, offsets: buffers.offsets, sortedRows: buffers.sortedRows });
      const rows = { kind: 'gathered' as const, sortedRows: buffers.sortedRows, tiles: buffers.tiles, offsets: buffers.offsets, maxTiles, topK: K };
      recordExpertGateUp(rec, { x: xb, gateUp: gu.operand, inter: buffers.inter, plan: rows, hidden: H, interSize: I });
      recordExpertDown(rec, { inter: buffers.inter, down: dn.operand, expertOut: buffers.expertOut, plan: rows, hidden: H, interSize: I });
      recordCombine(rec, {
        expertOut: buffers.expertOut,
        gates: gb,
        rowOfSlot: buffers.rowOfSlot,
        out: buffers.out,
        tokens: T,
        hidden: H,
        topK: K,
        shared: { out: sb, gateLogit: slb },
      });
      await rec.submit();
      const result = await readAll(ctx, buffers);
      for (const b of [idb, xb, gb, sb, slb, ...Object.values(buffers)]) b.destroy();
      gu.destroy();
      dn.destroy();
      return { ...result, gateUpSeen: gu.seen, downSeen: dn.seen };
    });

    const rowsRouted = plan.offsets[E];
    expect(Array.from(new Uint32Array(got.counts))).toEqual(Array.from(plan.counts));
    expect(Array.from(new Uint32Array(got.offsets))).toEqual(Array.from(plan.offsets));
    expect(Array.from(new Uint32Array(got.sortedRows).subarray(0, rowsRouted))).toEqual(Array.from(plan.sortedRows));
    expect(Array.from(new Uint32Array(got.rowOfSlot))).toEqual(Array.from(plan.rowOfSlot));
    const tiles = new Uint32Array(got.tiles);
    expect(tiles[0]).toBe(plan.tiles.length);
    expect(plan.tiles.flatMap(([e, first], i) => [tiles[1 + 2 * i] - e, tiles[2 + 2 * i] - first]).every((d) => d === 0)).toBe(true);

    // Reference: each expert's gathered rows through its own SwiGLU, in the gathered order.
    const interRef = new Float64Array(rowsRouted * I);
    const outRef = new Float64Array(rowsRouted * H);
    for (let e = 0; e < E; e++) {
      const [from, to] = [plan.offsets[e], plan.offsets[e + 1]];
      const input = new Float64Array((to - from) * H);
      for (let r = from; r < to; r++) {
        const t = Math.floor(plan.sortedRows[r] / K);
        input.set(x.subarray(t * H, (t + 1) * H), (r - from) * H);
      }
      const { out, inter } = swiglu(input, to - from, H, I, got.gateUpSeen, e * 2 * I * H, got.downSeen, e * H * I);
      interRef.set(inter, from * I);
      outRef.set(out, from * H);
    }
    const tol = { atol: 2e-5, rtol: 2e-5 };
    expectClose(new Float32Array(got.inter).subarray(0, rowsRouted * I), interRef, { ...tol, label: `inter ${dtype}` });
    expectClose(new Float32Array(got.expertOut).subarray(0, rowsRouted * H), outRef, { ...tol, label: `expert out ${dtype}` });

    const combined = combineReference(outRef, gates, plan.rowOfSlot, T, K, H, { out: sharedOut, gateLogit: sharedLogit });
    expectClose(new Float32Array(got.out), combined, { ...tol, label: `combine ${dtype}` });
  });

  it('runs a dense SwiGLU FFN (shared expert / dense layer mode) on all rows', async () => {
    const ctx = await gpuWithMatrixKernels(kind);
    const rng = createRng(6);
    // Even reduction sizes (H elsewhere is odd): the subgroup kernels read two f16 / bf16 weights per word.
    const [rows, width, H] = [70, 34, 38];
    const x = normals(rng, rows * H);
    const gateUp = normals(rng, 2 * width * H, 1 / Math.sqrt(H));
    const down = normals(rng, H * width, 1 / Math.sqrt(width));
    const got = await withinErrorScopes(ctx, async () => {
      const gu = await uploadWeights(ctx, gateUp, 'bf16');
      const dn = await uploadWeights(ctx, down, 'f16');
      const xb = await ctx.upload('x', x);
      const inter = ctx.createBuffer('inter', rows * width * 4);
      const out = ctx.createBuffer('out', rows * H * 4);
      const rec = ctx.record();
      const plan = { kind: 'dense' as const, rows };
      recordExpertGateUp(rec, { x: xb, gateUp: gu.operand, inter, plan, hidden: H, interSize: width });
      recordExpertDown(rec, { inter, down: dn.operand, expertOut: out, plan, hidden: H, interSize: width });
      await rec.submit();
      const result = { inter: await ctx.readF32(inter), out: await ctx.readF32(out), gu: gu.seen, dn: dn.seen };
      for (const b of [xb, inter, out]) b.destroy();
      gu.destroy();
      dn.destroy();
      return result;
    });
    const ref = swiglu(f64(x), rows, H, width, got.gu, 0, got.dn, 0);
    expectClose(got.inter, ref.inter, { atol: 2e-5, rtol: 2e-5, label: 'dense inter' });
    expectClose(got.out, ref.out, { atol: 2e-5, rtol: 2e-5, label: 'dense out' });
  });

  it("gpt_oss's experts: biases and the clamped SwiGLU (limit reached on a share of the entries)", async () => {
    const ctx = await gpuWithMatrixKernels(kind);
    const rng = createRng(7);
    const [rows, width] = [70, 33];
    const activation = { kind: 'clamped-swiglu' as const, alpha: 1.702, limit: 2 };
    const x = normals(rng, rows * H);
    const gateUp = normals(rng, 2 * width * H, 3 / Math.sqrt(H));
    const down = normals(rng, H * width, 1 / Math.sqrt(width));
    const gateUpBias = normals(rng, 2 * width, 0.5);
    const downBias = normals(rng, H, 0.5);
    const got = await withinErrorScopes(ctx, async () => {
      const gu = await uploadWeights(ctx, gateUp, 'f32');
      const dn = await uploadWeights(ctx, down, 'bf16');
      const [xb, gub, dnb] = await Promise.all([ctx.upload('x', x), ctx.upload('gate_up bias', gateUpBias), ctx.upload('down bias', downBias)]);
      const inter = ctx.createBuffer('inter', rows * width * 4);
      const out = ctx.createBuffer('out', rows * H * 4);
      const rec = ctx.record();
      const plan = { kind: 'dense' as const, rows };
      recordExpertGateUp(rec, { x: xb, gateUp: gu.operand, inter, plan, hidden: H, interSize: width, bias: gub, activation });
      recordExpertDown(rec, { inter, down: dn.operand, expertOut: out, plan, hidden: H, interSize: width, bias: dnb });
      await rec.submit();
      const result = { inter: await ctx.readF32(inter), out: await ctx.readF32(out), gu: gu.seen, dn: dn.seen };
      for (const b of [xb, gub, dnb, inter, out]) b.destroy();
      gu.destroy();
      dn.destroy();
      return result;
    });
    const extras = { activation, gateUpBias, gateUpBiasOffset: 0, downBias, downBiasOffset: 0 };
    const ref = swiglu(f64(x), rows, H, width, got.gu, 0, got.dn, 0, extras);
    expectClose(got.inter, ref.inter, { atol: 2e-5, rtol: 2e-5, label: 'clamped inter' });
    expectClose(got.out, ref.out, { atol: 2e-5, rtol: 2e-5, label: 'biased out' });
  });
});

it("moe/combine's outputs per invocation are the host's COMBINE_SPAN (the grid's size follows from it)", () => {
  const shader = readFileSync(new URL('../../shaders/moe/combine.wgsl', import.meta.url), 'utf8');
  expect(shader).toContain(`const SPAN: u32 = ${COMBINE_SPAN}u;`);
});
