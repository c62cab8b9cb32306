// The routing rule of each family, one thread per token: router logits r [T, E] -> K (expert, gate) pairs, where
// the gate g(t, e) is the weight the architecture multiplies expert e's output by (docs/calibration.md, "The statistics").
// RULE 0 softmax-topk (Mixtral, Qwen2/3-MoE, OLMoE): p = softmax(r); top-K of p; p / sum of the K when RENORMALIZE.
// RULE 1 topk-softmax (GraniteMoE's TopKGating): top-K of r, then softmax over those K logits.
// RULE 2 sparsemixer (PhiMoE at inference; Liu et al. 2023): K = 2; expert 1 = argmax r, its gate the softmax
//   over the logits within the relative band (max - r_e) / max(|r_e|, max) <= 2 eps; expert 2 = argmax of the
//   rest, its gate the same softmax over the rest measured against the second max.
// RULE 3 grouped-topk (DeepSeek-V2/V3, GLM-4.5; DeepSeek-V3 report Sec. 2.1.2): scores s = sigmoid(r) (SIGMOID) or
//   softmax(r); choice c = s + bias (HAS_BIAS: e_score_correction_bias, selection only); with `groups` > 1 the
//   groups of E / groups experts are scored by their best c (or the sum of their two best, GROUP_TOP2) and only the
//   `topk_groups` best compete; top-K of c; gates s, divided by their sum + 1e-20 when RENORMALIZE, times `scale`.
//   A group with fewer enabled experts than its score needs ranks last.
// Dropped experts (enabled[e] == 0, expert-level pruning) are left out before the rule, as if their logits were
// -inf: softmax and top-k run over the enabled experts only. Ties go to the lower expert index. A slot with no
// enabled expert left gets NO_EXPERT and gate 0.
// Steering's forced expert (`forced` != NO_EXPERT) replaces the rule: slot 0 = forced with gate 1, the other K - 1
// slots NO_EXPERT with gate 0, for every token, whatever the logits, the enabled experts and the rule's scaling.

struct Params {
  tokens: u32,
  experts: u32,
  top_k: u32,
  jitter_eps: f32,
  groups: u32,
  topk_groups: u32,
  scale: f32,
  forced: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;           // [T, E]
@group(0) @binding(2) var<storage, read> enabled: array<u32>;          // [E] 1 = kept, 0 = dropped
@group(0) @binding(3) var<storage, read_write> expert_ids: array<u32>; // [T, K]
@group(0) @binding(4) var<storage, read_write> gates: array<f32>;      // [T, K]
@group(0) @binding(5) var<storage, read> bias: array<f32>;             // [E] (read only when HAS_BIAS)

override WORKGROUP_SIZE: u32 = 64u;
override RULE: u32 = 0u;
override RENORMALIZE: bool = false;
override SIGMOID: bool = false;
override HAS_BIAS: bool = false;
override GROUP_TOP2: bool = false;

// MAX_TOP_K, NO_EXPERT and MAX_GROUPS are the host's (src/gpu/kernels/moe/route.ts; a unit test checks they agree).
const MAX_TOP_K: u32 = 32u;
const NO_EXPERT: u32 = 0xffffffffu;
const MAX_GROUPS: u32 = 64u;
// Stands in for -infinity: WGSL lets implementations assume floats are finite.
const NEG_BIG: f32 = -3.0e38;

// Rule 3's score s of expert e (`top`, `denominator`: the softmax's shift and sum over enabled experts).
fn grouped_score(base: u32, e: u32, top: f32, denominator: f32) -> f32 {
  let r = logits[base + e];
  if (SIGMOID) { return 1.0 / (1.0 + exp(-r)); }
  return exp(r - top) / denominator;
}

fn grouped_choice(base: u32, e: u32, top: f32, denominator: f32) -> f32 {
  return grouped_score(base, e, top, denominator) + select(0.0, bias[e], HAS_BIAS);
}

// Rule 3 for token row `base`: writes K experts and gates into `taken` / `weight`.
fn grouped_topk(base: u32, top: f32, taken: ptr<function, array<u32, MAX_TOP_K>>, weight: ptr<function, array<f32, MAX_TOP_K>>) {
  let E = params.experts;
  let G = params.groups;
  let size = E / G;
  var denominator = 0.0;
  for (var e = 0u; e < E; e++) {
    if (enabled[e] != 0u) { denominator += exp(logits[base + e] - top); }
  }
  // Group scores, then the topk_groups best groups (ties to the lower group).
  var group_score: array<f32, MAX_GROUPS>;
  for (var g = 0u; g < G; g++) {
    var best = NEG_BIG;
    var second = NEG_BIG;
    var live = 0u;
    for (var j = 0u; j < size; j++) {
      let e = g * size + j;
      if (enabled[e] == 0u) { continue; }
      live++;
      let c = grouped_choice(base, e, top, denominator);
      if (c > best) { second = best; best = c; } else if (c > second) { second = c; }
    }
    let needed = select(1u, 2u, GROUP_TOP2);
    group_score[g] = select(select(best, best + second, GROUP_TOP2), NEG_BIG, live < needed);
  }
  var kept: array<bool, MAX_GROUPS>;
  for (var n = 0u; n < params.topk_groups; n++) {
    var pick = 0u;
    var found = false;
    for (var g = 0u; g < G; g++) {
      if (kept[g]) { continue; }
      if (!found || group_score[g] > group_score[pick]) { pick = g; found = true; }
    }
    kept[pick] = true;
  }
  if (G == 1u) { kept[0] = true; }
  var picked = 0.0;
  for (var j = 0u; j < params.top_k; j++) {
    var best_e = NO_EXPERT;
    var best_c = 0.0;
    for (var e = 0u; e < E; e++) {
      if (enabled[e] == 0u || !kept[e / size]) { continue; }
      var used = false;
      for (var i = 0u; i < j; i++) {
        if ((*taken)[i] == e) { used = true; }
      }
      let c = grouped_choice(base, e, top, denominator);
      if (!used && (best_e == NO_EXPERT || c > best_c)) { best_e = e; best_c = c; }
    }
    (*taken)[j] = best_e;
    (*weight)[j] = select(grouped_score(base, best_e, top, denominator), 0.0, best_e == NO_EXPERT);
    picked += (*weight)[j];
  }
  for (var j = 0u; j < params.top_k; j++) {
    if (RENORMALIZE) { (*weight)[j] /= picked + 1e-20; }
    (*weight)[j] *= params.scale;
  }
}

// The enabled expert that follows (after_e, after_value) in the order of descending logit, ties to the lower index
// (the first of that order when after_e is NO_EXPERT); NO_EXPERT if none. Taking each pick as the next one's bound
// finds the top K in K passes over the logits, with no list of the experts taken so far to search in every pass.
fn next_by_logit(base: u32, after_e: u32, after_value: f32) -> u32 {
  var best = NO_EXPERT;
  var best_value = 0.0;
  for (var e = 0u; e < params.experts; e++) {
    if (enabled[e] == 0u) { continue; }
    let value = logits[base + e];
    let follows = after_e == NO_EXPERT || value < after_value || (value == after_value && e > after_e);
    if (follows && (best == NO_EXPERT || value > best_value)) {
      best = e;
      best_value = value;
    }
  }
  return best;
}

// Sparsemixer gate of `chosen` against threshold logit `top`, over enabled experts other than `excluded`:
// exp(r_chosen - top) / sum over the band of exp(r_e - top)  (transformers' masked softmax at inference).
fn sparsemixer_gate(base: u32, top: f32, chosen: u32, excluded: u32) -> f32 {
  var sum = 0.0;
  for (var e = 0u; e < params.experts; e++) {
    if (enabled[e] == 0u || e == excluded) { continue; }
    let r = logits[base + e];
    if ((top - r) / max(abs(r), top) > 2.0 * params.jitter_eps) { continue; }
    sum += exp(r - top);
  }
  return exp(logits[base + chosen] - top) / sum;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (t >= params.tokens) { return; }
  let E = params.experts;
  let K = params.top_k;
  let base = t * E;
  var taken: array<u32, MAX_TOP_K>;
  var weight: array<f32, MAX_TOP_K>;
  if (params.forced != NO_EXPERT) {
    for (var j = 0u; j < K; j++) {
      expert_ids[t * K + j] = select(NO_EXPERT, params.forced, j == 0u);
      gates[t * K + j] = select(0.0, 1.0, j == 0u);
    }
    return;
  }
  // The K largest enabled logits in order; once none is left the remaining slots stay NO_EXPERT.
  var previous = NO_EXPERT;
  var previous_value = 0.0;
  for (var j = 0u; j < K; j++) {
    taken[j] = NO_EXPERT;
    if (j == 0u || previous != NO_EXPERT) {
      taken[j] = next_by_logit(base, previous, previous_value);
    }
    previous = taken[j];
    if (previous != NO_EXPERT) { previous_value = logits[base + previous]; }
  }
  // Largest enabled logit: softmax shift for rules 0, 1 and 3 (NO_EXPERT only when every expert is dropped).
  let top = select(logits[base + taken[0]], 0.0, taken[0] == NO_EXPERT);
  if (RULE == 3u) {
    grouped_topk(base, top, &taken, &weight);
  } else if (RULE == 0u) {
    var denominator = 0.0;
    for (var e = 0u; e < E; e++) {
      if (enabled[e] != 0u) { denominator += exp(logits[base + e] - top); }
    }
    var picked = 0.0;
    for (var j = 0u; j < K; j++) {
      weight[j] = select(exp(logits[base + taken[j]] - top) / denominator, 0.0, taken[j] == NO_EXPERT);
      picked += weight[j];
    }
    if (RENORMALIZE) {
      for (var j = 0u; j < K; j++) { weight[j] /= picked; }
    }
  } else if (RULE == 1u) {
    var denominator = 0.0;
    for (var j = 0u; j < K; j++) {
      weight[j] = select(exp(logits[base + taken[j]] - top), 0.0, taken[j] == NO_EXPERT);
      denominator += weight[j];
    }
    for (var j = 0u; j < K; j++) { weight[j] /= denominator; }
  } else {
    if (taken[0] != NO_EXPERT) {
      weight[0] = sparsemixer_gate(base, top, taken[0], NO_EXPERT);
    }
    if (taken[1] != NO_EXPERT) {
      weight[1] = sparsemixer_gate(base, logits[base + taken[1]], taken[1], taken[0]);
    }
  }
  for (var j = 0u; j < K; j++) {
    expert_ids[t * K + j] = taken[j];
    gates[t * K + j] = weight[j];
  }
}
