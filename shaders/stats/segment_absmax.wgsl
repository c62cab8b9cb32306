// Per-segment largest magnitude folded into running maxima: totals[s] = max(totals[s], max |values[r, j]|) over
// the rows r of segment s (offsets[s] <= r < offsets[s + 1]) and columns j < W. On the expert outputs (the down
// projection's output, before g weights it) this finds the massive activations that mark super experts (Su et al.
// 2025, "Unveiling Super Experts in Mixture-of-Experts Large Language Models"). One workgroup per segment, lanes
// over rows and columns; max is exact and order-free, so the result is deterministic without atomics.

struct Params {
  width: u32,       // W
  row_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;        // [R, row_stride]
@group(0) @binding(2) var<storage, read> offsets: array<u32>;       // [S + 1]
@group(0) @binding(3) var<storage, read_write> totals: array<f32>;  // [S] running maxima (start at 0)

const WORKGROUP: u32 = 256u;

var<workgroup> part: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let segment = wid.x;
  let first = offsets[segment];
  let count = (offsets[segment + 1u] - first) * params.width;
  var m = 0.0;
  for (var i = lid; i < count; i += WORKGROUP) {
    let r = first + i / params.width;
    m = max(m, abs(values[r * params.row_stride + i % params.width]));
  }
  part[lid] = m;
  workgroupBarrier();
  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
    if (lid < half) { part[lid] = max(part[lid], part[lid + half]); }
    workgroupBarrier();
  }
  if (lid == 0u) { totals[segment] = max(totals[segment], part[0]); }
}
