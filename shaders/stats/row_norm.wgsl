// L2 norm of each row: norms[r] = ||rows[r, column_offset .. column_offset + W)||_2. Used on the expert outputs
// (before weighting by g) for REAP's saliency, sum over routed tokens of g * ||expert output|| (Lasby et al. 2025),
// reading the outputs the forward already computed instead of recomputing them.
// LANES lanes per row over strided columns, then a fixed tree: deterministic. A GPU takes 32 lanes (8 rows per
// workgroup); a CPU driver 1 (256 rows per workgroup, each summed in order by one invocation, no barrier: the
// tree's barriers made this the largest calibration kernel on lavapipe). ROW_NORM_LANES in the host.

struct Params {
  rows: u32,          // R
  width: u32,         // W
  row_stride: u32,
  column_offset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;       // [R, row_stride]
@group(0) @binding(2) var<storage, read_write> norms: array<f32>;  // [R]

const WORKGROUP: u32 = 256u;
override LANES: u32 = 32u; // a power of two, at most WORKGROUP

var<workgroup> part: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % LANES;
  let r = (wid.x + wid.y * nwg.x) * (WORKGROUP / LANES) + lid / LANES;
  var sum = 0.0;
  if (r < params.rows) {
    let base = r * params.row_stride + params.column_offset;
    for (var j = lane; j < params.width; j += LANES) {
      let v = values[base + j];
      sum += v * v;
    }
  }
  if (LANES == 1u) {
    if (r < params.rows) { norms[r] = sqrt(sum); }
    return;
  }
  part[lid] = sum;
  workgroupBarrier();
  for (var half = LANES / 2u; half > 0u; half /= 2u) {
    if (lane < half) { part[lid] += part[lid + half]; }
    workgroupBarrier();
  }
  if (lane == 0u && r < params.rows) { norms[r] = sqrt(part[lid]); }
}
