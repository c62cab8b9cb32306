// Top-K softmax routing and its backward, one invocation per token (E and K are small).
// forward: p = softmax(r) over the E router logits; the K largest p (ties -> lower expert index, as a stable
// descending sort); gates g_k = p_{e_k} / sum_j p_{e_j} when `renormalize` (Mixtral), else g_k = p_{e_k}
// (Qwen-MoE / OLMoE with norm_topk_prob = false: the gate keeps the router's confidence, from 1/E to 1).
// backward: given dL/dg [T, K] and the load-balancing term, dL/dr [T, E]:
//   dL/dp_{e_k} = (dg_k - sum_j dg_j g_j) / sum_j p_{e_j}                    (through the renormalization)
//   dL/dp_{e_k} = dg_k                                                       (unnormalized)
//   dL/dp_e    += aux_scale * E * f_e / T                                   (Switch load balancing, below)
//   dL/dr_e     = p_e (dL/dp_e - sum_e' p_e' dL/dp_e')                      (softmax)
// Load balancing (Fedus et al. 2021, transformers' load_balancing_loss_func, applied per layer here):
// aux = E * sum_e f_e P_e with f_e = (assignments to e) / T (summed over the K slots) and P_e = mean_t p[t, e];
// f_e is a count (no gradient), so d aux / d p[t, e] = E f_e / T. `aux_scale` is the loss coefficient / L.

struct Params {
  tokens: u32, // T
  experts: u32, // E
  top_k: u32, // K
  aux_scale: f32,
  stats_offset: u32,
  renormalize: u32, // 1: g = p / sum of the top K; 0: g = p
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;        // router logits [T, E] (forward) / dL/dg [T, K] (backward)
@group(0) @binding(2) var<storage, read> table: array<u32>;        // [2E] dispatch table: padded starts, then counts
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;  // [T, E] softmax (written by forward)
@group(0) @binding(4) var<storage, read_write> chosen: array<u32>; // [T, K] expert ids, descending p
@group(0) @binding(5) var<storage, read_write> output: array<f32>; // gates [T, K] (forward) / dL/dr [T, E] (backward) / stats (stats)

// TRAIN_MAX_EXPERTS in src/engine/train/config.ts (its validateConfig refuses more; a unit test checks they agree).
const MAX_EXPERTS: u32 = 128u;

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= params.tokens) { return; }
  let E = params.experts;
  let base = t * E;
  var max_logit = input[base];
  for (var e = 1u; e < E; e++) { max_logit = max(max_logit, input[base + e]); }
  var sum = 0.0;
  for (var e = 0u; e < E; e++) {
    let v = exp(input[base + e] - max_logit);
    probs[base + e] = v;
    sum += v;
  }
  for (var e = 0u; e < E; e++) { probs[base + e] /= sum; }
  // Top-K by repeated selection: the largest p not yet taken, lower index on ties.
  var taken: array<bool, MAX_EXPERTS>;
  var top_sum = 0.0;
  for (var k = 0u; k < params.top_k; k++) {
    var best = E;
    for (var e = 0u; e < E; e++) {
      if (!taken[e] && (best == E || probs[base + e] > probs[base + best])) { best = e; }
    }
    taken[best] = true;
    chosen[t * params.top_k + k] = best;
    top_sum += probs[base + best];
  }
  let scale = select(1.0, 1.0 / top_sum, params.renormalize != 0u);
  for (var k = 0u; k < params.top_k; k++) {
    output[t * params.top_k + k] = probs[base + chosen[t * params.top_k + k]] * scale;
  }
}

// The forward's gates are recomputed here from probs and chosen.
@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= params.tokens) { return; }
  let E = params.experts;
  let K = params.top_k;
  let base = t * E;
  var top_sum = 0.0;
  for (var k = 0u; k < K; k++) { top_sum += probs[base + chosen[t * K + k]]; }
  var weighted = 0.0; // sum_j dg_j g_j (renormalized), 0 (unnormalized: g = p, dL/dp = dg)
  if (params.renormalize == 0u) {
    top_sum = 1.0;
  } else {
    for (var k = 0u; k < K; k++) {
      weighted += input[t * K + k] * probs[base + chosen[t * K + k]] / top_sum;
    }
  }
  var dp: array<f32, MAX_EXPERTS>;
  let balance = params.aux_scale * f32(E) / (f32(params.tokens) * f32(params.tokens));
  for (var e = 0u; e < E; e++) { dp[e] = balance * f32(table[E + e]); }
  for (var k = 0u; k < K; k++) {
    let e = chosen[t * K + k];
    dp[e] += (input[t * K + k] - weighted) / top_sum;
  }
  var dot = 0.0;
  for (var e = 0u; e < E; e++) { dot += probs[base + e] * dp[e]; }
  for (var e = 0u; e < E; e++) { output[base + e] = probs[base + e] * (dp[e] - dot); }
}

// Routing statistics of the step, one invocation per expert e: output[stats_offset + e] = P_e = mean_t p[t, e]
// and output[stats_offset + E + e] = assignments to e (from the dispatch table), for the loss log and the balance
// report (aux = E * sum_e (count_e / T) P_e).
@compute @workgroup_size(64)
fn stats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x;
  let E = params.experts;
  if (e >= E) { return; }
  var sum = 0.0;
  for (var t = 0u; t < params.tokens; t++) { sum += probs[t * E + e]; }
  output[params.stats_offset + e] = sum / f32(params.tokens);
  output[params.stats_offset + E + e] = f32(table[E + e]);
}
