/**
 * Gradient checks of the training kernels, one by one, at tiny odd shapes: each backward kernel, given a random
 * output gradient R, must return the gradient of L = sum(R * forward(x)) that central finite differences of the
 * f64 CPU reference give (src/engine/reference/ops.ts, src/engine/reference/train/: ops.ts, moe-dispatch.ts,
 * moe-rows.ts). Forward outputs are compared with the same references first, the expert row maps bit for bit.
 * (The whole model: train-model-gradient.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { rmsNorm, applyRope, causalAttention, linear } from '../../src/engine/reference/ops.ts';
import { expertRowMaps } from '../../src/engine/reference/train/moe-dispatch.ts';
import { combineRows, gatherRows } from '../../src/engine/reference/train/moe-rows.ts';
import { embeddingLookup, meanCrossEntropy, routeTokens, swigluRows } from '../../src/engine/reference/train/ops.ts';
import { ropeTable } from '../../src/engine/train/rope-table.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import type { Recorder } from '../../src/gpu/recorder.ts';
import { recordAttentionBackward } from '../../src/gpu/train/backward.ts';
import type { StepShape } from '../../src/gpu/train/buffers.ts';
import { recordCrossEntropy } from '../../src/gpu/kernels/train/cross_entropy.ts';
import { recordEmbeddingBackward, recordEmbeddingForward } from '../../src/gpu/kernels/train/embedding.ts';
import { recordAttentionForward } from '../../src/gpu/train/forward.ts';
import { expertRowCapacity, recordMoeDispatch } from '../../src/gpu/kernels/train/moe_dispatch.ts';
import { recordCombineRows, recordGatherRows, recordGateGrad, recordInputGrad } from '../../src/gpu/kernels/train/moe_rows.ts';
import { recordRmsNormBackward, recordRmsNormForward } from '../../src/gpu/kernels/train/rmsnorm.ts';
import { recordRopeBackward, recordRopeForward } from '../../src/gpu/kernels/train/rope.ts';
import { recordRouterBackward, recordRouterForward } from '../../src/gpu/kernels/train/router.ts';
import { recordSwiGluBackward, recordSwiGluForward } from '../../src/gpu/kernels/train/swiglu.ts';
import { positionsById } from '../../src/engine/train/data.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const rng = createRng(2024);
const random = (n: number, scale = 1) => Float64Array.from({ length: n }, () => scale * rng.normal());
const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
const GRAD = { atol: 1e-4, rtol: 2e-3 };

/** Central differences of f at every element of x (f64 throughout). */
function numericGradient(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + eps;
    const plus = f(x);
    x[i] = keep - eps;
    const minus = f(x);
    x[i] = keep;
    grad[i] = (plus - minus) / (2 * eps);
  }
  return grad;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Uploads named arrays, records `body`, submits, and reads back the named outputs as f32. */
async function run(
  ctx: GpuContext,
  inputs: Record<string, Float32Array | Uint32Array | number>,
  body: (rec: Recorder, b: Record<string, GPUBuffer>) => void,
  outputs: string[],
): Promise<Record<string, Float32Array>> {
  return withinErrorScopes(ctx, async () => {
    const buffers: Record<string, GPUBuffer> = {};
    for (const [name, value] of Object.entries(inputs)) {
      buffers[name] = typeof value === 'number' ? ctx.createBuffer(name, value * 4) : await ctx.upload(name, value);
    }
    const rec = ctx.record();
    body(rec, buffers);
    await rec.submit();
    const result: Record<string, Float32Array> = {};
    for (const name of outputs) result[name] = await ctx.readF32(buffers[name]);
    for (const b of Object.values(buffers)) b.destroy();
    return result;
  });
}

describe('training kernels: forward against the reference, backward against finite differences', () => {
  it('rmsnorm: y, dx (added to the residual gradient) and dw', async () => {
    const ctx = await gpu();
    const [rows, H, offset, eps] = [5, 12, 3, 1e-5];
    const x = random(rows * H);
    const w = random(H, 0.5).map((v) => 1 + v);
    const R = random(rows * H);
    const base = random(rows * H);
    const weights = new Float32Array(offset + H);
    weights.set(f32(w), offset);
    const shape = { rows, width: H, eps, weightOffset: offset };
    const got = await run(
      ctx,
      { x: f32(x), weights, dy: f32(R), rstd: rows, y: rows * H, dres: f32(base), grads: offset + H },
      (rec, b) => {
        recordRmsNormForward(rec, shape, b.x, b.weights, b.rstd, b.y);
        recordRmsNormBackward(rec, shape, b.x, b.weights, b.rstd, b.dy, b.dres, b.grads);
      },
      ['y', 'dres', 'grads'],
    );
    expectClose(got.y, rmsNorm(x, rows, H, w, eps), { atol: 1e-5, rtol: 1e-5, label: 'rmsnorm y' });
    const dx = got.dres.map((v, i) => v - base[i]);
    expectClose(
      dx,
      numericGradient((xx) => dot(R, rmsNorm(xx, rows, H, w, eps)), x),
      { ...GRAD, label: 'rmsnorm dx' },
    );
    expectClose(
      got.grads.subarray(offset),
      numericGradient((ww) => dot(R, rmsNorm(x, rows, H, ww, eps)), w),
      { ...GRAD, label: 'rmsnorm dw' },
    );
  });

  it('rope: rotates q and k in place (k^T, v^T copies), and the backward is the inverse rotation', async () => {
    const ctx = await gpu();
    const [windows, S, heads, D] = [2, 5, 2, 6];
    const [T, H] = [windows * S, heads * D];
    const qkv = random(T * 3 * H);
    const positions = Array.from({ length: T }, (_, t) => t % S);
    const forward = (input: Float64Array) => {
      const out = Float64Array.from(input);
      for (const part of [0, 1]) {
        const slice = new Float64Array(T * H);
        for (let t = 0; t < T; t++) slice.set(out.subarray(t * 3 * H + part * H, t * 3 * H + part * H + H), t * H);
        applyRope(slice, T, heads, D, positions, 10000);
        for (let t = 0; t < T; t++) out.set(slice.subarray(t * H, t * H + H), t * 3 * H + part * H);
      }
      return out;
    };
    const R = random(T * 3 * H);
    const shape = { tokens: T, window: S, heads, headDim: D };
    const got = await run(
      ctx,
      { table: ropeTable(S, D, 10000), qkv: f32(qkv), dqkv: f32(R), kT: T * H, vT: T * H },
      (rec, b) => {
        recordRopeForward(rec, shape, b.table, b.qkv, b.kT, b.vT);
        recordRopeBackward(rec, shape, b.table, b.dqkv, b.kT, b.vT);
      },
      ['qkv', 'dqkv', 'kT', 'vT'],
    );
    const want = forward(qkv);
    expectClose(got.qkv, want, { atol: 1e-5, rtol: 1e-5, label: 'rope forward' });
    // k^T [windows, heads, D, S] holds the rotated k, v^T the v.
    const [w, h, d, s] = [1, 1, 4, 3];
    expect(got.kT[((w * heads + h) * D + d) * S + s]).toBeCloseTo(want[(w * S + s) * 3 * H + H + h * D + d], 5);
    expect(got.vT[((w * heads + h) * D + d) * S + s]).toBeCloseTo(qkv[(w * S + s) * 3 * H + 2 * H + h * D + d], 5);
    expectClose(
      got.dqkv,
      numericGradient((x) => dot(R, forward(x)), qkv),
      { ...GRAD, label: 'rope backward' },
    );
  });

  it('attention (q k^T, causal softmax, P v): output and dq, dk, dv', async () => {
    const ctx = await gpu();
    const [B, S, heads, D] = [2, 9, 2, 4];
    const [T, H] = [B * S, heads * D];
    const s = { B, S, T, H, heads, D } as StepShape;
    const qkv = random(T * 3 * H);
    const attention = (x: Float64Array) => {
      const out = new Float64Array(T * H);
      for (let w = 0; w < B; w++) {
        const part = (p: number) => {
          const m = new Float64Array(S * H);
          for (let t = 0; t < S; t++) m.set(x.subarray((w * S + t) * 3 * H + p * H, (w * S + t) * 3 * H + p * H + H), t * H);
          return m;
        };
        out.set(causalAttention(part(0), part(1), part(2), S, heads, heads, D, 1 / Math.sqrt(D)), w * S * H);
      }
      return out;
    };
    const transposedPart = (p: number) => {
      const m = new Float32Array(T * H);
      for (let w = 0; w < B; w++)
        for (let h = 0; h < heads; h++)
          for (let d = 0; d < D; d++)
            for (let t = 0; t < S; t++) {
              m[((w * heads + h) * D + d) * S + t] = qkv[(w * S + t) * 3 * H + p * H + h * D + d];
            }
      return m;
    };
    const R = random(T * H);
    const got = await run(
      ctx,
      {
        qkv: f32(qkv),
        kT: transposedPart(1),
        vT: transposedPart(2),
        probs: B * heads * S * S,
        attn: T * H,
        unused: 1,
        dAttn: f32(R),
        dProbs: B * heads * S * S,
        dQkv: T * 3 * H,
      },
      (rec, b) => {
        recordAttentionForward(rec, s, { qkv: b.qkv, kT: b.kT, vT: b.vT, probs: b.probs, attn: b.attn }, b.unused);
        recordAttentionBackward(rec, s, { qkv: b.qkv, vT: b.vT, probs: b.probs }, { dAttn: b.dAttn, dProbs: b.dProbs, dQkv: b.dQkv });
      },
      ['attn', 'dQkv'],
    );
    expectClose(got.attn, attention(qkv), { atol: 1e-5, rtol: 1e-4, label: 'attention output' });
    expectClose(
      got.dQkv,
      numericGradient((x) => dot(R, attention(x)), qkv),
      { ...GRAD, label: 'attention d qkv' },
    );
  });

  // Mixtral renormalizes the top-K gates; Qwen-MoE / OLMoE with norm_topk_prob = false keep the probabilities.
  it.each([true, false])('router: softmax -> top-2 gates (renormalized: %s), and dL/dr with the load-balancing term', async (renormalize) => {
    const ctx = await gpu();
    const [T, E, K, auxScale] = [12, 6, 2, 0.7];
    const logits = random(T * E);
    const ref = routeTokens(logits, T, E, K, renormalize);
    const R = random(T * K);
    const objective = (x: Float64Array) => {
      const r = routeTokens(x, T, E, K, renormalize);
      let sum = 0;
      r.gates.forEach((g, t) => g.forEach((v, k) => (sum += R[t * K + k] * v)));
      return sum + auxScale * r.aux;
    };
    const rows = expertRowCapacity(T, K, E);
    const got = await run(
      ctx,
      { logits: f32(logits), probs: T * E, chosen: T * K, gates: T * K, table: 2 * E, rowSlot: rows, slotRow: T * K, dGates: f32(R), dLogits: T * E },
      (rec, b) => {
        recordRouterForward(rec, { tokens: T, experts: E, topK: K, renormalize }, b.logits, b.table, b.probs, b.chosen, b.gates);
        recordMoeDispatch(rec, { tokens: T, topK: K, experts: E }, b.chosen, b.table, b.rowSlot, b.slotRow);
        recordRouterBackward(rec, { tokens: T, experts: E, topK: K, renormalize }, auxScale, b.dGates, b.table, b.probs, b.chosen, b.dLogits);
      },
      ['probs', 'chosen', 'gates', 'dLogits'],
    );
    expectClose(got.probs, ref.probs, { atol: 1e-6, rtol: 1e-5, label: 'router probs' });
    expect([...new Uint32Array(got.chosen.buffer)]).toEqual(ref.experts.flat());
    expectClose(got.gates, ref.gates.flat(), { atol: 1e-6, rtol: 1e-5, label: 'gates' });
    expectClose(got.dLogits, numericGradient(objective, logits), { ...GRAD, label: 'router dL/dr' });
  });

  it('swiglu: act = silu(g) u and d gu', async () => {
    const ctx = await gpu();
    const [rows, I] = [7, 5];
    const gu = random(rows * 2 * I, 2);
    const R = random(rows * I);
    const got = await run(
      ctx,
      { gu: f32(gu), act: rows * I, dAct: f32(R), dGu: rows * 2 * I, unused: 1 },
      (rec, b) => {
        recordSwiGluForward(rec, rows, I, b.gu, b.act, b.unused);
        recordSwiGluBackward(rec, rows, I, b.gu, b.dAct, b.dGu);
      },
      ['act', 'dGu'],
    );
    expectClose(got.act, swigluRows(gu, rows, I), { atol: 1e-5, rtol: 1e-5, label: 'swiglu act' });
    expectClose(
      got.dGu,
      numericGradient((x) => dot(R, swigluRows(x, rows, I)), gu),
      { ...GRAD, label: 'swiglu d gu' },
    );
  });

  it('expert dispatch and rows: the row maps; gather, combine and its gradients for gates and expert outputs; the MoE input gradient', async () => {
    const ctx = await gpu();
    const [T, H, K, E] = [6, 5, 2, 3];
    const R = expertRowCapacity(T, K, E);
    const chosen = Uint32Array.from({ length: T * K }, (_, i) => (Math.floor(i / K) + (i % K)) % E); // distinct per token
    const gates = random(T * K, 0.5).map((v) => 0.5 + v);
    const y = random(R * H);
    const residual = random(T * H);
    const x = random(T * H);
    const router = random(E * H);
    const routerOffset = 2;
    const weights = new Float32Array(routerOffset + E * H);
    weights.set(f32(router), routerOffset);
    const dh = random(T * H);
    const dRows = random(R * H);
    const dr = random(T * E);
    const shape = { tokens: T, width: H, topK: K, experts: E, rows: R };
    const got = await run(
      ctx,
      {
        chosen,
        table: 2 * E,
        rowSlot: R,
        slotRow: T * K,
        gates: f32(gates),
        y: f32(y),
        residual: f32(residual),
        out: T * H,
        dh: f32(dh),
        dGates: T * K,
        dYRows: R * H,
        x: f32(x),
        xRows: R * H,
        dRows: f32(dRows),
        dr: f32(dr),
        weights,
        dx: T * H,
        unused: 1,
      },
      (rec, b) => {
        recordMoeDispatch(rec, { tokens: T, topK: K, experts: E }, b.chosen, b.table, b.rowSlot, b.slotRow);
        const maps = { rowSlot: b.rowSlot, slotRow: b.slotRow };
        recordCombineRows(rec, shape, maps, b.gates, b.y, b.residual, b.out);
        recordGateGrad(rec, shape, maps, b.y, b.dh, b.dGates, b.unused);
        recordGatherRows(rec, shape, maps, b.dh, b.dYRows, b.gates);
        recordGatherRows(rec, shape, maps, b.x, b.xRows, null);
        recordInputGrad(rec, shape, maps, b.dRows, b.dr, b.weights, routerOffset, b.dx);
      },
      ['table', 'slotRow', 'rowSlot', 'out', 'dGates', 'dYRows', 'xRows', 'dx'],
    );
    // The maps are integers: bit for bit.
    const expected = expertRowMaps(chosen, E, R);
    expect([...new Uint32Array(got.table.buffer)]).toEqual([...expected.table]);
    expect([...new Uint32Array(got.rowSlot.buffer)]).toEqual([...expected.rowSlot]);
    expect([...new Uint32Array(got.slotRow.buffer)]).toEqual([...expected.slotRow]);
    const { slotRow } = expected;
    const combine = (g: Float64Array, rows: Float64Array) => combineRows(residual, g, rows, slotRow, K, H);
    expectClose(got.out, combine(gates, y), { atol: 1e-5, rtol: 1e-5, label: 'combine' });
    expectClose(
      got.dGates,
      numericGradient((g) => dot(dh, combine(g, y)), gates),
      { ...GRAD, label: 'd gates' },
    );
    // Padding rows are never written (0 in the fresh buffers) and never read (0 in the references).
    expectClose(got.xRows, gatherRows(x, slotRow, K, H, R), { atol: 0, rtol: 1e-6, label: 'gather' });
    expectClose(got.dYRows, gatherRows(dh, slotRow, K, H, R, gates), { atol: 1e-6, rtol: 1e-5, label: 'gather scaled by the gates' });
    expectClose(
      got.dYRows,
      numericGradient((rows) => dot(dh, combine(gates, rows)), y),
      { ...GRAD, label: 'd y rows' },
    );
    // L(x) = dRows . gather(x) + dr . (x router^T): its gradient is input_grad(dRows, dr).
    const moeInput = (xx: Float64Array) => dot(dRows, gatherRows(xx, slotRow, K, H, R)) + dot(dr, linear(xx, T, H, router, E));
    expectClose(got.dx, numericGradient(moeInput, x), { ...GRAD, label: 'MoE input gradient' });
  });

  it('cross-entropy: per-token NLL, the mean, and dL/dz in place', async () => {
    const ctx = await gpu();
    const [T, V] = [5, 11];
    const logits = random(T * V, 2);
    const targets = Uint32Array.from({ length: T }, () => rng.int(V));
    const got = await run(
      ctx,
      { logits: f32(logits), targets, loss: T, sums: 4 },
      (rec, b) => recordCrossEntropy(rec, { tokens: T, vocab: V, scale: 1 / T, gradient: true, slot: 2 }, b.logits, b.targets, b.loss, b.sums),
      ['logits', 'sums'],
    );
    expect(got.sums[2]).toBeCloseTo(meanCrossEntropy(logits, targets, V), 5);
    expectClose(
      got.logits,
      numericGradient((z) => meanCrossEntropy(z, targets, V), logits),
      { ...GRAD, label: 'dL/dz' },
    );
  });

  it('embedding: gather, and the per-id sums of the backward', async () => {
    const ctx = await gpu();
    const [V, H, offset] = [7, 5, 4];
    const ids = Uint32Array.from([3, 1, 3, 6, 0, 3, 1, 2, 6]);
    const T = ids.length;
    const table = random(V * H);
    const stored = new Float32Array(offset + V * H);
    stored.set(f32(table), offset);
    const R = random(T * H);
    const { order, starts } = positionsById(ids, V);
    const shape = { tokens: T, hidden: H, vocab: V, embedOffset: offset };
    const got = await run(
      ctx,
      { ids, table: stored, x: T * H, order, starts, dx: f32(R), grads: offset + V * H },
      (rec, b) => {
        recordEmbeddingForward(rec, shape, b.ids, b.table, b.x);
        recordEmbeddingBackward(rec, shape, b.order, b.starts, b.dx, b.grads);
      },
      ['x', 'grads'],
    );
    expectClose(got.x, embeddingLookup(f32(table), ids, H), { atol: 0, rtol: 0, label: 'embedding' });
    expectClose(
      got.grads.subarray(offset),
      numericGradient((tt) => dot(R, embeddingLookup(tt, ids, H)), table),
      { ...GRAD, label: 'd embedding' },
    );
  });
});
