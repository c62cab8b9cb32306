import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { referenceMatmul, type StridedView } from '../../src/engine/reference/train/matmul.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { recordMatmul, rowMajor, transposed, type MatmulOptions, type MatrixView } from '../../src/gpu/kernels/train/matmul.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const random = (n: number, seed: number) => {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
};

const view = (data: Float32Array, v: MatrixView): StridedView => ({
  data,
  offset: v.offset ?? 0,
  row: v.row,
  col: v.col,
  outer: v.outer ?? 0,
  inner: v.inner ?? 0,
});

/** Runs one product on the GPU and on the CPU reference from the same inputs; returns both outputs. */
async function both(
  ctx: GpuContext,
  data: { a: Float32Array; b: Float32Array; c: Float32Array; groups?: Uint32Array },
  options: (bufs: { a: GPUBuffer; b: GPUBuffer; c: GPUBuffer; groups: GPUBuffer | null }) => MatmulOptions,
): Promise<{ got: Float32Array; want: Float32Array }> {
  return withinErrorScopes(ctx, async () => {
    const a = await ctx.upload('a', data.a);
    const b = await ctx.upload('b', data.b);
    const c = await ctx.upload('c', data.c);
    const groups = data.groups ? await ctx.upload('groups', data.groups) : null;
    const o = options({ a, b, c, groups });
    const rec = ctx.record();
    recordMatmul(rec, o);
    await rec.submit();
    const got = await ctx.readF32(c);
    const want = Float32Array.from(data.c);
    referenceMatmul({
      M: o.M,
      N: o.N,
      K: o.K,
      a: view(data.a, o.a),
      b: view(data.b, o.b),
      c: view(want, o.c) as StridedView & { data: Float32Array },
      alpha: o.alpha ?? 1,
      accumulate: o.accumulate ?? false,
      batch: o.batch ?? { outer: 1, inner: 1 },
      causal: o.causal ?? 'none',
      grouped:
        o.grouped && data.groups
          ? { mode: o.grouped.mode, starts: [...data.groups.slice(0, o.grouped.experts)], counts: [...data.groups.slice(o.grouped.experts)] }
          : undefined,
    });
    for (const buffer of [a, b, c, groups]) buffer?.destroy();
    return { got, want };
  });
}

const tolerance = { atol: 1e-4, rtol: 1e-4 };

describe('train/matmul', () => {
  it('y = x W^T, dx = dy W and dW = dy^T x at sizes off the tile grid', async () => {
    const ctx = await gpu();
    const [M, N, K] = [37, 150, 45];
    const x = random(M * K, 1);
    const w = random(N * K, 2);
    // Forward: A = x [M, K] row-major, B(k, n) = W(n, k).
    let r = await both(ctx, { a: x, b: w, c: new Float32Array(M * N) }, (g) => ({
      M,
      N,
      K,
      a: rowMajor(g.a, K),
      b: transposed(g.b, K),
      c: rowMajor(g.c, N),
      alpha: 0.5,
    }));
    expectClose(r.got, r.want, { ...tolerance, label: 'x W^T' });
    // dx = dy W: A = dy [M, N], B = W [N, K]; accumulate onto a non-zero C.
    const dy = random(M * N, 3);
    r = await both(ctx, { a: dy, b: w, c: random(M * K, 4) }, (g) => ({
      M,
      N: K,
      K: N,
      a: rowMajor(g.a, N),
      b: rowMajor(g.b, K),
      c: rowMajor(g.c, K),
      accumulate: true,
    }));
    expectClose(r.got, r.want, { ...tolerance, label: 'dy W (+C)' });
    // dW = dy^T x: A(m, k) = dy(k, m) (contiguous along m: the other entry point).
    r = await both(ctx, { a: dy, b: x, c: new Float32Array(N * K) }, (g) => ({
      M: N,
      N: K,
      K: M,
      a: transposed(g.a, N),
      b: rowMajor(g.b, K),
      c: rowMajor(g.c, K),
    }));
    expectClose(r.got, r.want, { ...tolerance, label: 'dy^T x' });
  });

  it('batched attention products straight from a [T, 3H] q|k|v buffer, with the causal modes', async () => {
    const ctx = await gpu();
    const [windows, heads, S, D] = [2, 3, 21, 8];
    const H = heads * D;
    const T = windows * S;
    const qkv = random(T * 3 * H, 5);
    const batch = { outer: windows, inner: heads };
    const q = (g: GPUBuffer, part: number): MatrixView => ({ buffer: g, offset: part * H, row: 3 * H, col: 1, outer: S * 3 * H, inner: D });
    // scores = q k^T per (window, head) into [windows, heads, S, S]; B(k=d, n=s) = K(s, d).
    const scores = (g: GPUBuffer): MatrixView => ({ buffer: g, row: S, col: 1, outer: heads * S * S, inner: S * S });
    let r = await both(ctx, { a: qkv, b: qkv, c: new Float32Array(windows * heads * S * S) }, (g) => ({
      M: S,
      N: S,
      K: D,
      a: q(g.a, 0),
      b: { ...q(g.b, 1), row: 1, col: 3 * H },
      c: scores(g.c),
      batch,
      causal: 'skip-upper-tiles',
      alpha: 0.25,
    }));
    const lower = (arr: Float32Array) => arr.filter((_, i) => i % S <= Math.floor(i / S) % S);
    expectClose(lower(r.got), lower(r.want), { ...tolerance, label: 'q k^T (lower triangle)' });
    // P v and P^T dO with P lower triangular (zero above the diagonal, as the softmax kernel leaves it).
    const p = random(windows * heads * S * S, 6).map((v, i) => (i % S <= Math.floor(i / S) % S ? v : 0));
    r = await both(ctx, { a: p, b: qkv, c: new Float32Array(T * H) }, (g) => ({
      M: S,
      N: D,
      K: S,
      a: scores(g.a),
      b: q(g.b, 2),
      c: { buffer: g.c, row: H, col: 1, outer: S * H, inner: D },
      batch,
      causal: 'k-up-to-m',
    }));
    expectClose(r.got, r.want, { ...tolerance, label: 'P v' });
    r = await both(ctx, { a: p, b: qkv, c: new Float32Array(T * H) }, (g) => ({
      M: S,
      N: D,
      K: S,
      a: { ...scores(g.a), row: 1, col: S },
      b: q(g.b, 0),
      c: { buffer: g.c, row: H, col: 1, outer: S * H, inner: D },
      batch,
      causal: 'k-from-m',
    }));
    expectClose(r.got, r.want, { ...tolerance, label: 'P^T q' });
  });

  it('grouped expert products: rows per expert segment, and the reduction over each expert rows', async () => {
    const ctx = await gpu();
    const [E, H, I] = [4, 19, 27];
    const counts = [5, 0, 17, 9];
    const starts: number[] = [];
    let at = 0;
    for (const n of counts) {
      starts.push(at);
      at += Math.ceil(n / 8) * 8;
    }
    const R = at;
    const groups = Uint32Array.from([...starts, ...counts]);
    const x = random(R * H, 7);
    const w = random(E * I * H, 8); // [E, I, H]
    const grouped = (g: GPUBuffer | null, mode: 'rows' | 'reduction') => ({ mode, groups: g!, experts: E });
    // y [R, I] = x_e W_e^T per segment: B(k=h, n=i) = W[e, i, h].
    let r = await both(ctx, { a: x, b: w, c: new Float32Array(R * I), groups }, (g) => ({
      M: R,
      N: I,
      K: H,
      a: rowMajor(g.a, H),
      b: { ...transposed(g.b, H), outer: I * H },
      c: rowMajor(g.c, I),
      grouped: grouped(g.groups, 'rows'),
    }));
    expectClose(r.got, r.want, { ...tolerance, label: 'grouped rows' });
    // dW_e [I, H] = dy_e^T x_e over the rows of expert e.
    const dy = random(R * I, 9);
    r = await both(ctx, { a: dy, b: x, c: new Float32Array(E * I * H), groups }, (g) => ({
      M: I,
      N: H,
      K: R,
      a: transposed(g.a, I),
      b: rowMajor(g.b, H),
      c: { ...rowMajor(g.c, H), outer: I * H },
      grouped: grouped(g.groups, 'reduction'),
    }));
    expectClose(r.got, r.want, { ...tolerance, label: 'grouped reduction' });
    expect(r.got.slice(I * H, 2 * I * H).every((v) => v === 0)).toBe(true); // the expert with no rows gets dW = 0
  });
});
