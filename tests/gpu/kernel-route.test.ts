/** moe/route against the CPU routing rules (src/engine/reference/routing.ts), with dropped experts and with a forced expert. */
import { describe, expect, it } from 'vitest';
import type { RoutingRule } from '../../src/engine/model/spec.ts';
import { createRng } from '../../src/engine/random.ts';
import { route } from '../../src/engine/reference/routing.ts';
import { NO_EXPERT, recordRoute } from '../../src/gpu/kernels/moe/route.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { normals } from './kernel-harness.ts';

const RULES: [string, RoutingRule, number][] = [
  ['softmax-topk renormalized (Mixtral, Qwen3)', { kind: 'softmax-topk', renormalize: true }, 3],
  ['softmax-topk (Qwen2-MoE, OLMoE)', { kind: 'softmax-topk', renormalize: false }, 4],
  ['topk-softmax (Granite)', { kind: 'topk-softmax' }, 3],
  ['sparsemixer (PhiMoE)', { kind: 'sparsemixer', jitterEps: 0.2 }, 2],
];

const grouped = (score: 'softmax' | 'sigmoid', groups: number, topkGroups: number, groupScore: 'max' | 'top2-sum', renormalize: boolean, scale: number) =>
  ({ kind: 'grouped-topk', score, correctionBias: score === 'sigmoid', groups, topkGroups, groupScore, renormalize, scale }) as const;

/** DeepSeek-V2 (softmax, greedy and group-limited by max), V3 / GLM-4.5 (sigmoid + bias, groups by top-2 sum), Moonlight (one group). */
const GROUPED_RULES: [string, RoutingRule, number][] = [
  ['grouped-topk softmax greedy (DeepSeek-V2-Lite)', grouped('softmax', 1, 1, 'max', false, 1), 3],
  ['grouped-topk softmax group-limited (DeepSeek-V2)', grouped('softmax', 4, 2, 'max', false, 16), 3],
  ['grouped-topk sigmoid + bias, 4 groups keep 2 (DeepSeek-V3)', grouped('sigmoid', 4, 2, 'top2-sum', true, 2.5), 4],
  ['grouped-topk sigmoid + bias, one group (Moonlight, GLM-4.5)', grouped('sigmoid', 1, 1, 'top2-sum', true, 2.446), 3],
];

describe('kernel moe/route', () => {
  it.each([...RULES, ...GROUPED_RULES])('%s matches the reference, all experts and with dropped experts', async (_name, rule, K) => {
    const ctx = await gpu();
    const rng = createRng(K * 31);
    // Grouped rules need E divisible by the groups.
    const [T, E] = [77, rule.kind === 'grouped-topk' ? 12 : 11];
    const bias = rule.kind === 'grouped-topk' && rule.correctionBias ? normals(rng, E, 0.3) : null;
    // Logits spread widely, and a few tokens close together so sparsemixer's band holds several experts.
    const logits = normals(rng, T * E, 2);
    for (let e = 0; e < E; e++) logits[5 * E + e] = 1 + 0.01 * e;
    // Ties decided by the expert index: three values repeated across the row, and a row of one value.
    for (let e = 0; e < E; e++) logits[6 * E + e] = [0.5, -1, 2][e % 3];
    for (let e = 0; e < E; e++) logits[7 * E + e] = 0.25;
    const cases: Uint32Array[] = [
      new Uint32Array(E).fill(1),
      Uint32Array.from({ length: E }, (_, e) => (e % 3 === 1 ? 0 : 1)),
      Uint32Array.from({ length: E }, (_, e) => (e === 6 ? 1 : 0)), // fewer enabled experts than K
    ];
    for (const enabled of cases) {
      const got = await withinErrorScopes(ctx, async () => {
        const lb = await ctx.upload('logits', logits);
        const eb = await ctx.upload('enabled', enabled);
        const bb = bias ? await ctx.upload('bias', bias) : null;
        const ids = ctx.createBuffer('ids', T * K * 4);
        const gates = ctx.createBuffer('gates', T * K * 4);
        const rec = ctx.record();
        recordRoute(rec, { logits: lb, enabled: eb, expertIds: ids, gates, tokens: T, experts: E, topK: K, rule, bias: bb });
        await rec.submit();
        const result = { ids: await ctx.readU32(ids), gates: await ctx.readF32(gates) };
        // Steering's forced expert replaces the rule (src/engine/model/steering.ts): slot 0 = the expert with gate 1, the rest empty.
        const forced = rng.int(E);
        const frec = ctx.record();
        recordRoute(frec, { logits: lb, enabled: eb, expertIds: ids, gates, tokens: T, experts: E, topK: K, rule, bias: bb, forcedExpert: forced });
        await frec.submit();
        const forcedIds = Array.from(await ctx.readU32(ids));
        const forcedGates = Array.from(await ctx.readF32(gates));
        const slots = (first: number) => Array.from({ length: T * K }, (_, i) => (i % K === 0 ? first : -1));
        expect(forcedIds).toEqual(slots(forced).map((v) => (v < 0 ? NO_EXPERT : v)));
        expect(forcedGates).toEqual(slots(1).map((v) => Math.max(v, 0)));
        for (const b of [lb, eb, ids, gates, bb]) b?.destroy();
        return result;
      });
      for (let t = 0; t < T; t++) {
        const row = Array.from(logits.subarray(t * E, (t + 1) * E), (v, e) => (enabled[e] ? v : -Infinity));
        const ref = route(rule, row, K, bias);
        // Slots the reference fills with dropped experts (weight 0) are empty slots on the GPU.
        const kept = ref.experts.flatMap((e, slot) => (enabled[e] ? [[e, ref.weights[slot]]] : []));
        for (let slot = 0; slot < K; slot++) {
          const id = got.ids[t * K + slot];
          const gate = got.gates[t * K + slot];
          const where = `token ${t} slot ${slot} (enabled ${enabled.join('')})`;
          if (slot < kept.length) {
            expect(id, where).toBe(kept[slot][0]);
            // f32 against f64, relative for gates scaled by routed_scaling_factor.
            expect(Math.abs(gate - kept[slot][1]), where).toBeLessThan(1e-6 * Math.max(1, kept[slot][1]));
          } else {
            expect(id, where).toBe(NO_EXPERT);
            expect(gate, where).toBe(0);
          }
        }
      }
    }
  });
});
