// Picks one radix digit per matrix / layer comparison group from its global histogram (group_histogram.wgsl),
// narrows the group's threshold prefix and rank, and zeroes the histogram for the next pass. One workgroup per
// group. Include radix.wgsl.

struct Params {
  radix_pass: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> group_state: array<u32>; // [groups, 2]: threshold prefix, rank
@group(0) @binding(2) var<storage, read_write> histograms: array<u32>;  // [groups, RADIX_BINS]

@compute @workgroup_size(SELECT_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.x;
  for (var b = lid; b < RADIX_BINS; b += SELECT_THREADS) {
    atomicStore(&histogram[b], histograms[group * RADIX_BINS + b]);
    histograms[group * RADIX_BINS + b] = 0u;
  }
  workgroupBarrier();
  let digit = pick_digit(lid, group_state[group * 2u + 1u]);
  if (lid == 0u) {
    group_state[group * 2u] |= digit.x << radix_shift(params.radix_pass);
    group_state[group * 2u + 1u] = digit.y;
  }
}
