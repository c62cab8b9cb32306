// Router health per token (router-health.ts): p = softmax over the router logits of the enabled experts (an
// expert dropped by pruning, enabled[e] == 0, counts as a -inf logit: p = 0, as the routing rule sees it), then
//   entropy[t] = H(p) in nats (0 .. ln E) and margin[t] = p(1) - p(2), the top-1/top-2 probability gap,
// each counted into HISTOGRAM bins over [0, entropy_max] and [0, 1] (value <= 0 -> bin 0, top edge -> last
// bin), added to running counts. H(p) = ln(s) - sum_e p_e (r_e - m) with m = max r, s = sum exp(r_e - m):
// no log of tiny probabilities. One invocation per token; bin counts are integers (u32 atomics, exact).

struct Params {
  tokens: u32,      // T
  experts: u32,     // E
  entropy_max: f32, // ln E: the top of the entropy histogram
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> router_logits: array<f32>;          // [T, E]
@group(0) @binding(2) var<storage, read> enabled: array<u32>;                 // [E] 1 = kept, 0 = dropped
@group(0) @binding(3) var<storage, read_write> token_entropy: array<f32>;    // [T]
@group(0) @binding(4) var<storage, read_write> token_margin: array<f32>;     // [T]
@group(0) @binding(5) var<storage, read_write> histograms: array<atomic<u32>>; // [2, BINS]: entropy, margin

override BINS: u32 = 32u;
const WORKGROUP: u32 = 256u;

var<workgroup> local_hist: array<atomic<u32>, 512>; // [2, BINS], BINS <= 256

fn bin_of(value: f32, top: f32) -> u32 {
  if (!(value > 0.0)) { return 0u; }
  return min(BINS - 1u, u32(floor(value / top * f32(BINS))));
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  for (var b = lid; b < 2u * BINS; b += WORKGROUP) { atomicStore(&local_hist[b], 0u); }
  workgroupBarrier();
  let t = (wid.x + wid.y * nwg.x) * WORKGROUP + lid;
  if (t < params.tokens) {
    let E = params.experts;
    let row = t * E;
    var m = -3.0e38;
    for (var e = 0u; e < E; e++) {
      if (enabled[e] != 0u) { m = max(m, router_logits[row + e]); }
    }
    var s = 0.0;
    var weighted = 0.0; // sum exp(r_e - m) (r_e - m)
    var first = 0.0;
    var second = 0.0;
    for (var e = 0u; e < E; e++) {
      if (enabled[e] == 0u) { continue; }
      let r = router_logits[row + e];
      let q = exp(r - m);
      s += q;
      weighted += q * (r - m);
      if (q > first) {
        second = first;
        first = q;
      } else if (q > second) {
        second = q;
      }
    }
    let entropy = max(0.0, log(s) - weighted / s);
    let margin = (first - second) / s;
    token_entropy[t] = entropy;
    token_margin[t] = margin;
    atomicAdd(&local_hist[bin_of(entropy, params.entropy_max)], 1u);
    atomicAdd(&local_hist[BINS + bin_of(margin, 1.0)], 1u);
  }
  workgroupBarrier();
  for (var b = lid; b < 2u * BINS; b += WORKGROUP) {
    let n = atomicLoad(&local_hist[b]);
    if (n > 0u) { atomicAdd(&histograms[b], n); }
  }
}
