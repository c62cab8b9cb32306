/**
 * Host for shaders/moe/route.wgsl: router logits [T, E] -> expert ids [T, K] u32 and gates [T, K] f32.
 * CPU reference: `route` in src/engine/reference/routing.ts.
 */
import source from '../../../../shaders/moe/route.wgsl';
import type { RoutingRule } from '../../../engine/model/spec.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const routeKernel = defineKernel({ name: 'moe/route', source });

/** MAX_TOP_K in the shader. */
export const MAX_TOP_K = 32;
/** MAX_GROUPS in the shader (n_group; DeepSeek-V3 has 8). */
export const MAX_GROUPS = 64;
/** Expert id of a slot no enabled expert could fill (fewer than K experts left after expert dropping). */
export const NO_EXPERT = 0xffffffff;

export interface RouteArgs {
  logits: GPUBuffer; // [T, E]
  enabled: GPUBuffer; // [E] u32: 1 kept, 0 dropped
  expertIds: GPUBuffer; // [T, K] u32
  gates: GPUBuffer; // [T, K] f32
  tokens: number;
  experts: number;
  topK: number;
  rule: RoutingRule;
  /** [E] f32 e_score_correction_bias, for grouped-topk rules with correctionBias. */
  bias?: GPUBuffer | null;
  /** Steering: every token's top-K replaced by {forcedExpert} with gate 1 (src/engine/model/steering.ts). */
  forcedExpert?: number | null;
}

export function recordRoute(rec: Recorder, a: RouteArgs): void {
  if (a.topK > MAX_TOP_K) throw new Error(`route: top-k ${a.topK} is above the supported ${MAX_TOP_K}`);
  if (a.rule.kind === 'sparsemixer' && a.topK !== 2) throw new Error(`route: sparsemixer routes to exactly 2 experts (top-k ${a.topK})`);
  const rule = { 'softmax-topk': 0, 'topk-softmax': 1, sparsemixer: 2, 'grouped-topk': 3 }[a.rule.kind];
  const grouped = a.rule.kind === 'grouped-topk' ? a.rule : null;
  if (grouped && grouped.groups > MAX_GROUPS) throw new Error(`route: ${grouped.groups} expert groups is above the supported ${MAX_GROUPS}`);
  const forced = a.forcedExpert ?? null;
  if (forced !== null && !(Number.isInteger(forced) && forced >= 0 && forced < a.experts)) {
    throw new Error(`route: forced expert ${forced} is outside 0..${a.experts - 1}`);
  }
  const hasBias = grouped !== null && grouped.correctionBias;
  if (hasBias && !a.bias) throw new Error('route: this routing rule needs the layer correction bias');
  rec.dispatch(routeKernel, {
    // Without a bias the binding is never read: `enabled` stands in for it.
    bindings: { logits: a.logits, enabled: a.enabled, expert_ids: a.expertIds, gates: a.gates, bias: hasBias ? a.bias! : a.enabled },
    params: {
      tokens: a.tokens,
      experts: a.experts,
      top_k: a.topK,
      jitter_eps: a.rule.kind === 'sparsemixer' ? a.rule.jitterEps : 0,
      groups: grouped?.groups ?? 1,
      topk_groups: grouped?.topkGroups ?? 1,
      scale: grouped?.scale ?? 1,
      forced: forced ?? NO_EXPERT,
    },
    constants: {
      RULE: rule,
      RENORMALIZE: (a.rule.kind === 'softmax-topk' || a.rule.kind === 'grouped-topk') && a.rule.renormalize,
      SIGMOID: grouped?.score === 'sigmoid',
      HAS_BIAS: hasBias,
      GROUP_TOP2: grouped?.groupScore === 'top2-sum',
    },
    workgroups: grid1d(a.tokens, 64),
  });
}
