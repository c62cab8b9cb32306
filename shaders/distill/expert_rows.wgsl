// One MoE layer's routed rows, as the inference forward left them (src/gpu/model/taps.ts), laid out for
// expert-wise training: expert e owns rows offsets[e] .. offsets[e + 1] (contiguous, no padding), row r's token is
// sorted_rows[r] / K. Rows offsets[E] .. T K - 1 belong to nobody (empty routing slots).
// segments: table [2E] = segment starts, then row counts (the format of expert_mse.wgsl); one invocation per expert.
// gather:   x_rows [T K, H] = x [token of r, :] on routed rows, 0 elsewhere; row_expert [T K] = e, or NO_EXPERT.
//           One invocation per (h, r); the expert of r is found by a scan of the E + 1 offsets.

struct Params {
  rows: u32,    // T K: capacity of x_rows / row_expert
  width: u32,   // H
  experts: u32, // E
  top_k: u32,   // K
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;                // [T, H]
@group(0) @binding(2) var<storage, read> sorted_rows: array<u32>;      // [T K] assignment t K + slot per row
@group(0) @binding(3) var<storage, read> offsets: array<u32>;          // [E + 1]
@group(0) @binding(4) var<storage, read_write> x_rows: array<f32>;     // [T K, H]
@group(0) @binding(5) var<storage, read_write> row_expert: array<u32>; // [T K]
@group(0) @binding(6) var<storage, read_write> table: array<u32>;      // [2E]

const NO_EXPERT: u32 = 0xffffffffu;

@compute @workgroup_size(64)
fn segments(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 64u;
  if (e >= params.experts) { return; }
  table[e] = offsets[e];
  table[params.experts + e] = offsets[e + 1u] - offsets[e];
}

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let h = gid.x;
  let r = gid.y + gid.z * nwg.y;
  if (h >= params.width || r >= params.rows) { return; }
  let i = r * params.width + h;
  if (r >= offsets[params.experts]) {
    x_rows[i] = 0.0;
    if (h == 0u) { row_expert[r] = NO_EXPERT; }
    return;
  }
  var e = 0u;
  while (offsets[e + 1u] <= r) { e++; }
  x_rows[i] = x[(sorted_rows[r] / params.top_k) * params.width + h];
  if (h == 0u) { row_expert[r] = e; }
}
