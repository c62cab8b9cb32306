// The products of expert-wise training on expert rows (expert_rows.wgsl layout), in f32 with a fixed summation
// order (no subgroups, no atomics: the same bits on every adapter and run to run).
// rows:  out [R, N] = a [R, K] . W_e^T for each row r of expert e = row_expert[r]; 0 on rows of no expert.
//        W_e element (n, k) is w[w_offset + e w_expert + n w_n + k w_k], so W_e^T (gate_up, down) and W_e
//        itself (the backward through down) are the same entry with other strides.
// outer: out[w_offset + e w_expert + m N + n] = sum over expert e's rows r (in order) of a[r, m] b[r, n]:
//        the weight gradient of expert e, [M, N] per expert; 0 for an expert without rows.

struct Params {
  rows: u32,     // R
  n: u32,        // N
  k: u32,        // K (rows) / M (outer)
  experts: u32,  // E
  w_offset: u32,
  w_expert: u32,
  w_n: u32,
  w_k: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;            // rows: the weights; outer: [R, N]
@group(0) @binding(3) var<storage, read> groups: array<u32>;       // rows: row_expert [R]; outer: table [2E]
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const NO_EXPERT: u32 = 0xffffffffu;

@compute @workgroup_size(64)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x;
  let r = gid.y + gid.z * nwg.y;
  if (n >= params.n || r >= params.rows) { return; }
  let e = groups[r];
  var sum = 0.0;
  if (e != NO_EXPERT) {
    let w0 = params.w_offset + e * params.w_expert + n * params.w_n;
    let a0 = r * params.k;
    for (var k = 0u; k < params.k; k++) { sum += a[a0 + k] * b[w0 + k * params.w_k]; }
  }
  out[r * params.n + n] = sum;
}

@compute @workgroup_size(64)
fn outer(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x;
  let row = gid.y + gid.z * nwg.y; // e M + m
  let M = params.k;
  if (n >= params.n || row >= params.experts * M) { return; }
  let e = row / M;
  let m = row % M;
  let start = groups[e];
  let end = start + groups[params.experts + e];
  var sum = 0.0;
  for (var r = start; r < end; r++) { sum += a[r * M + m] * b[r * params.n + n]; }
  out[params.w_offset + e * params.w_expert + m * params.n + n] = sum;
}
