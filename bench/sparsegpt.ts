/**
 * SparseGPT on the GPU (src/gpu/sparsegpt), JSON out: the three stages of one MoE layer's experts, each timed
 * alone after a warm-up run (pipelines built), best of --iters:
 *   hessian   Hessian sums of E experts over T * K gathered token rows (width H), hessian_accumulate
 *   factor    inverse-Hessian factors of E experts of width H (prepare, blocked Cholesky, triangular inverse)
 *   prune     the column algorithm on the 2E gate/up matrices [I, H] (f16), unstructured 50% and 2:4
 * Shapes default to a small Mixtral-like layer that a CPU Vulkan driver runs in seconds; pass the real ones on a
 * GPU (Mixtral-8x7B: --hidden 4096 --ffn 14336 --experts 8 --tokens 4096).
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/sparsegpt.ts [--hidden 256]
 *      [--ffn 512] [--experts 4] [--tokens 1024] [--topk 2] [--blocksize 128] [--iters 3]
 */
import { parseArgs } from 'node:util';
import { encodeWeights } from '../src/engine/prune/packing.ts';
import { UNSTRUCTURED, type PrunePattern } from '../src/engine/prune/settings.ts';
import { createRng } from '../src/engine/random.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { recordHessianAccumulate } from '../src/gpu/kernels/sparsegpt/hessian_accumulate.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { recordInverseHessianFactor, type InverseHessianFactor } from '../src/gpu/sparsegpt/factor.ts';
import { recordSparseGpt } from '../src/gpu/sparsegpt/prune-matrices.ts';
import { maskWords } from '../src/gpu/weights.ts';

const { values } = parseArgs({
  options: {
    hidden: { type: 'string', default: '256' },
    ffn: { type: 'string', default: '512' },
    experts: { type: 'string', default: '4' },
    tokens: { type: 'string', default: '1024' },
    topk: { type: 'string', default: '2' },
    blocksize: { type: 'string', default: '128' },
    iters: { type: 'string', default: '3' },
  },
});
const [H, I, E, T, K, B, iters] = ['hidden', 'ffn', 'experts', 'tokens', 'topk', 'blocksize', 'iters'].map((k) => Number(values[k as keyof typeof values]));

/** Best wall time (ms) of `iters` runs after one warm-up; each run records, submits and waits. */
async function time(ctx: GpuContext, run: () => Promise<void>): Promise<number> {
  await run();
  let best = Infinity;
  for (let i = 0; i < iters; i++) {
    const start = performance.now();
    await run();
    await ctx.idle();
    best = Math.min(best, performance.now() - start);
  }
  return +best.toFixed(2);
}

const ctx = await createNodeGpuContext({ label: 'bench-sparsegpt' });
try {
  const rng = createRng(1);
  // Routing: each token to K distinct experts, rows grouped by expert (what the forward's dispatch produces).
  const rowSlot: number[] = [];
  const offsets = new Uint32Array(E + 1);
  const choices = Array.from({ length: T }, () => {
    const chosen = new Set<number>();
    while (chosen.size < K) chosen.add(rng.int(E));
    return [...chosen];
  });
  for (let e = 0; e < E; e++) {
    choices.forEach((c, t) => c.forEach((id, k) => id === e && rowSlot.push(t * K + k)));
    offsets[e + 1] = rowSlot.length;
  }
  const tokens = await ctx.upload(
    'tokens',
    Float32Array.from({ length: T * H }, () => rng.normal()),
  );
  const slots = await ctx.upload('row slots', Uint32Array.from(rowSlot));
  const offsetBuffer = await ctx.upload('offsets', offsets);
  const sums = ctx.createBuffer('S', E * H * H * 4);
  const hessianMs = await time(ctx, async () => {
    const rec = ctx.record('hessian');
    rec.clear(sums);
    recordHessianAccumulate(rec, { rows: tokens, width: H, rowSlot: { buffer: slots, topK: K }, offsets: offsetBuffer, segments: E, totals: sums });
    await rec.submit();
  });
  const expertTokens = Array.from({ length: E }, (_, e) => offsets[e + 1] - offsets[e]);
  let factor: InverseHessianFactor | null = null;
  const factorMs = await time(ctx, async () => {
    factor?.destroy();
    const rec = ctx.record('factor');
    const made = recordInverseHessianFactor(ctx, rec, { label: 'bench', hessian: sums, cols: H, tokens: expertTokens, damp: 0.01 });
    factor = made.factor;
    await rec.submit();
    await ctx.idle();
    made.release();
  });
  const elements = 2 * E * I * H;
  const source = await ctx.upload(
    'gate_up f16',
    encodeWeights(
      Float32Array.from({ length: elements }, () => rng.normal() * 0.05),
      'f16',
    ),
  );
  const output = ctx.createBuffer('gate_up updated', source.size);
  const mask = ctx.createBuffer('mask', maskWords(elements) * 4);
  const prune: Record<string, number> = {};
  const patterns: [string, PrunePattern, number][] = [
    ['unstructured 50%', UNSTRUCTURED, 0.5],
    ['2:4', { kind: 'n:m', n: 2, m: 4 }, 0],
  ];
  for (const [name, pattern, sparsity] of patterns) {
    prune[name] = await time(ctx, async () => {
      const rec = ctx.record('prune');
      const { loss, release } = recordSparseGpt(
        ctx,
        rec,
        { sparsity, pattern, blockSize: B, damp: 0.01 },
        {
          label: 'bench gate_up',
          rows: I,
          cols: H,
          matrices: 2 * E,
          share: 2,
          source: { buffer: source, dtype: 'f16' },
          output: { buffer: output },
          mask: { buffer: mask },
          factor: factor!,
        },
      );
      await rec.submit();
      await ctx.idle();
      release();
      loss.destroy();
    });
  }
  const gflop = (flops: number, ms: number) => +(flops / ms / 1e6).toFixed(2);
  const routedRows = T * K;
  console.log(
    JSON.stringify(
      {
        bench: 'sparsegpt',
        adapter: summarizeCapabilities(ctx.caps),
        shape: { hidden: H, ffn: I, experts: E, tokens: T, topK: K, blockSize: B, dtype: 'f16' },
        ms: { hessian: hessianMs, factor: factorMs, prune },
        // Useful flops: X^T X of all routed rows (upper triangle computed, counted in full); Cholesky + inverse
        // ~ (1/3 + 1/3) C^3 per factor; the column algorithm ~ 2 R C^2 per matrix (trailing updates dominate).
        gflopPerSecond: {
          hessian: gflop(2 * routedRows * H * H, hessianMs),
          factor: gflop((2 / 3) * E * H ** 3, factorMs),
          prune: Object.fromEntries(Object.entries(prune).map(([k, ms]) => [k, gflop(2 * 2 * E * I * H * H, ms)])),
        },
      },
      null,
      2,
    ),
  );
  factor!.destroy();
  for (const b of [tokens, slots, offsetBuffer, sums, source, output, mask]) b.destroy();
} finally {
  ctx.destroy();
}
