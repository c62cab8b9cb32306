// Per-segment gate-weighted sums added to running totals: totals[s] += sum over rows r of segment s of
// gates[row_slot[r]] * value[r]. With value = ||expert output row|| (row_norm.wgsl) this is REAP's per-expert
// saliency numerator, sum of g * ||expert output|| (Lasby et al. 2025). GATED = false drops the gate: the plain
// sum of ||expert output||, EAN's expert activation norm (Jaiswal et al. 2025, "Finding Fantastic Experts in
// MoEs"). One workgroup per segment, lanes take rows in a fixed order, a fixed tree adds the lanes:
// deterministic without float atomics.

override GATED: bool = true;

@group(0) @binding(0) var<storage, read> value: array<f32>;        // [R]
@group(0) @binding(1) var<storage, read> row_slot: array<u32>;     // [R] assignment t * K + k of each row
@group(0) @binding(2) var<storage, read> gates: array<f32>;        // [T * K]
@group(0) @binding(3) var<storage, read> offsets: array<u32>;      // [S + 1]
@group(0) @binding(4) var<storage, read_write> totals: array<f32>; // [S] running

const WORKGROUP: u32 = 256u;

var<workgroup> part: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let segment = wid.x;
  let end = offsets[segment + 1u];
  var sum = 0.0;
  for (var r = offsets[segment] + lid; r < end; r += WORKGROUP) { sum += select(1.0, gates[row_slot[r]], GATED) * value[r]; }
  part[lid] = sum;
  workgroupBarrier();
  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
    if (lid < half) { part[lid] += part[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { totals[segment] += part[0]; }
}
