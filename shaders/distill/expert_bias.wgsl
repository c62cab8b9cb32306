// Per-expert biases on expert rows (gpt_oss's experts, distillation): y[r, n] += bias[offset + e N + n] for each
// row r of an expert e = row_expert[r]; rows of no expert are left as they are. In place, one invocation per element.

struct Params {
  rows: u32,     // R
  n: u32,        // N
  offset: u32,   // first element of the [E, N] biases in `bias`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> row_expert: array<u32>;   // [R]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // [R, N]

const NO_EXPERT: u32 = 0xffffffffu;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x;
  let r = gid.y + gid.z * nwg.y;
  if (n >= params.n || r >= params.rows) { return; }
  let e = row_expert[r];
  if (e == NO_EXPERT) { return; }
  y[r * params.n + n] += bias[params.offset + e * params.n + n];
}
