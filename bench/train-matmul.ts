/**
 * Benchmark of the training matmul (shaders/train/matmul.wgsl) at the shapes one training step uses, JSON out.
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/train-matmul.ts [--tokens T] [--hidden H]
 */
import { parseArgs } from 'node:util';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { matmulFlops, recordMatmul, rowMajor, transposed, type MatmulOptions } from '../src/gpu/kernels/train/matmul.ts';

const { values } = parseArgs({
  options: { tokens: { type: 'string', default: '2048' }, hidden: { type: 'string', default: '256' }, repeat: { type: 'string', default: '3' } },
});
const T = Number(values.tokens);
const H = Number(values.hidden);
const repeat = Number(values.repeat);
const ctx = await createNodeGpuContext({ label: 'bench-train-matmul' });
const big = (n: number) => ctx.createBuffer('x', n * 4);
const x = big(T * 4 * H);
const w = big(4 * H * H);
const y = big(T * 4 * H);

const cases: { name: string; options: MatmulOptions }[] = [
  { name: 'forward x W^T with W^T stored [T,H]x[H,4H]', options: { M: T, N: 4 * H, K: H, a: rowMajor(x, H), b: rowMajor(w, 4 * H), c: rowMajor(y, 4 * H) } },
  { name: 'forward x W^T with W stored (B k-contiguous)', options: { M: T, N: 4 * H, K: H, a: rowMajor(x, H), b: transposed(w, H), c: rowMajor(y, 4 * H) } },
  { name: 'backward dy W [T,4H]x[4H,H]', options: { M: T, N: H, K: 4 * H, a: rowMajor(y, 4 * H), b: rowMajor(w, H), c: rowMajor(x, H) } },
  { name: 'weight grad dy^T x [4H,T]x[T,H]', options: { M: 4 * H, N: H, K: T, a: transposed(y, 4 * H), b: rowMajor(x, H), c: rowMajor(w, H) } },
];
const results = [];
for (const { name, options } of cases) {
  const flops = matmulFlops(options.M, options.N, options.K);
  const rec = ctx.record();
  recordMatmul(rec, options);
  await rec.submit();
  await ctx.idle();
  const start = performance.now();
  for (let r = 0; r < repeat; r++) {
    const rr = ctx.record();
    recordMatmul(rr, options);
    await rr.submit();
  }
  await ctx.idle();
  const seconds = (performance.now() - start) / 1000 / repeat;
  results.push({ name, M: options.M, N: options.N, K: options.K, ms: +(seconds * 1000).toFixed(2), gflops: +(flops / seconds / 1e9).toFixed(2) });
}
console.log(JSON.stringify({ device: ctx.caps.description || ctx.caps.device, results }, null, 2));
ctx.destroy();
