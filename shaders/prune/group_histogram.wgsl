// One radix pass of the matrix / layer comparison groups, for one matrix of the group: histogram of the digit
// of pass `radix_pass` over the keys that match the group's threshold prefix so far, added into the group's
// global histogram (workgroup histograms first, so global atomics are one per bin and workgroup). The group's
// matrices each run this before group_pick.wgsl picks the digit.
// Include weights.wgsl, score.wgsl, radix.wgsl, select.wgsl.

struct Params {
  element_count: u32, // rows * cols of this matrix
  cols: u32,
  weight_base: u32,
  stream_key: u32,
  group: u32,
  radix_pass: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;              // W [rows, cols], WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> column_factors: array<f32>;       // [cols]
@group(0) @binding(3) var<storage, read> group_state: array<u32>;          // [groups, 2]: threshold prefix, rank
@group(0) @binding(4) var<storage, read_write> histograms: array<atomic<u32>>; // [groups, RADIX_BINS]

const CHUNK_ELEMENTS: u32 = 8192u; // 32 per invocation

@compute @workgroup_size(SELECT_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let chunk_start = (wid.x + wid.y * nwg.x) * CHUNK_ELEMENTS;
  if (chunk_start >= params.element_count) {
    return;
  }
  clear_histogram(lid);
  let prefix_mask = radix_prefix_mask(params.radix_pass);
  let prefix = group_state[params.group * 2u];
  let chunk_end = min(chunk_start + CHUNK_ELEMENTS, params.element_count);
  for (var e = chunk_start + lid; e < chunk_end; e += SELECT_THREADS) {
    let key = score_key(params.weight_base + e, e, e % params.cols, params.stream_key);
    if ((key & prefix_mask) == prefix) {
      atomicAdd(&histogram[radix_digit(key, params.radix_pass)], 1u);
    }
  }
  workgroupBarrier();
  for (var b = lid; b < RADIX_BINS; b += SELECT_THREADS) {
    let count = atomicLoad(&histogram[b]);
    if (count > 0u) {
      atomicAdd(&histograms[params.group * RADIX_BINS + b], count);
    }
  }
}
