/** eval/nll against the CPU reference nllOfRow: chunked rows, a vocab not a multiple of 256, rows without target. */
import { describe, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { nllOfRow } from '../../src/engine/reference/ops.ts';
import { NO_TARGET, recordNll } from '../../src/gpu/kernels/eval/nll.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { normals } from './kernel-harness.ts';

describe('kernel eval/nll', () => {
  it('computes logsumexp - z[target] per row, chunk by chunk', async () => {
    const ctx = await gpu();
    const rng = createRng(9);
    const [T, V, chunk] = [23, 1031, 10];
    // Large logits: a naive exp would overflow f32, the max-subtracted form must not.
    const logits = normals(rng, T * V, 30).map((v) => v + 100);
    const targets = Uint32Array.from({ length: T }, (_, t) => (t % 7 === 6 ? NO_TARGET : rng.int(V)));
    const got = await withinErrorScopes(ctx, async () => {
      const tb = await ctx.upload('targets', targets);
      const nll = ctx.createBuffer('nll', T * 4);
      const lb = ctx.createBuffer('logits chunk', chunk * V * 4);
      for (let first = 0; first < T; first += chunk) {
        const rows = Math.min(chunk, T - first);
        ctx.write(lb, logits.subarray(first * V, (first + rows) * V));
        const rec = ctx.record();
        recordNll(rec, lb, tb, nll, rows, V, first);
        await rec.submit();
      }
      const out = await ctx.readF32(nll);
      for (const b of [tb, nll, lb]) b.destroy();
      return out;
    });
    const ref = Array.from({ length: T }, (_, t) => (targets[t] === NO_TARGET ? 0 : nllOfRow(logits, t * V, V, targets[t])));
    expectClose(got, ref, { atol: 1e-4, rtol: 1e-6, label: 'nll' });
  });
});
