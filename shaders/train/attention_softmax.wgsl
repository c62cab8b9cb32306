// Causal softmax over attention score rows, in place on [windows, heads, S, S] (scores already scaled by
// 1/sqrt(D) in the q k^T product). Row t keeps keys s <= t; entries above the diagonal are set to exactly 0, which
// the P v and P^T dO products rely on (matmul.wgsl CAUSAL modes). Max-subtracted (numerically stable).
// backward, in place on dP -> dS: dS[t, s] = P[t, s] (dP[t, s] - sum_s' P[t, s'] dP[t, s']) for s <= t, else 0.
// One invocation per row.

struct Params {
  rows: u32, // windows * heads * S
  window: u32, // S
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> probs: array<f32>;        // P (backward only)
@group(0) @binding(2) var<storage, read_write> values: array<f32>; // scores -> P (forward), dP -> dS (backward)

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= params.rows) { return; }
  let S = params.window;
  let t = row % S;
  let base = row * S;
  var max_score = values[base];
  for (var s = 1u; s <= t; s++) { max_score = max(max_score, values[base + s]); }
  var sum = 0.0;
  for (var s = 0u; s <= t; s++) {
    let e = exp(values[base + s] - max_score);
    values[base + s] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var s = 0u; s < S; s++) {
    values[base + s] = select(0.0, values[base + s] * inv, s <= t);
  }
}

@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= params.rows) { return; }
  let S = params.window;
  let t = row % S;
  let base = row * S;
  var dot = 0.0;
  for (var s = 0u; s <= t; s++) { dot += probs[base + s] * values[base + s]; }
  for (var s = 0u; s < S; s++) {
    values[base + s] = select(0.0, probs[base + s] * (values[base + s] - dot), s <= t);
  }
}
