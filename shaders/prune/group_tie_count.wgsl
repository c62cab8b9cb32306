// After the radix passes: how many keys of each chunk of a matrix equal the group's threshold, so that
// group_tie_scan.wgsl can give every chunk the number of ties before it in the group's index order.
// Include weights.wgsl, score.wgsl, radix.wgsl, select.wgsl.

struct Params {
  element_count: u32,
  cols: u32,
  weight_base: u32,
  stream_key: u32,
  group: u32,
  chunk_base: u32, // this matrix's first chunk in `tie_counts`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;        // W [rows, cols], WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> column_factors: array<f32>; // [cols]
@group(0) @binding(3) var<storage, read> group_state: array<u32>;    // [groups, 2]: threshold, ties to prune
@group(0) @binding(4) var<storage, read_write> tie_counts: array<u32>; // [chunks of all matrices]

const CHUNK_ELEMENTS: u32 = 8192u; // = 256 mask words, as group_mask.wgsl

var<workgroup> chunk_ties: atomic<u32>;

@compute @workgroup_size(SELECT_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.x + wid.y * nwg.x;
  let chunk_start = chunk * CHUNK_ELEMENTS;
  if (chunk_start >= params.element_count) {
    return;
  }
  if (lid == 0u) {
    atomicStore(&chunk_ties, 0u);
  }
  workgroupBarrier();
  let threshold = group_state[params.group * 2u];
  let chunk_end = min(chunk_start + CHUNK_ELEMENTS, params.element_count);
  var ties = 0u;
  for (var e = chunk_start + lid; e < chunk_end; e += SELECT_THREADS) {
    ties += select(0u, 1u, score_key(params.weight_base + e, e, e % params.cols, params.stream_key) == threshold);
  }
  atomicAdd(&chunk_ties, ties);
  workgroupBarrier();
  if (lid == 0u) {
    tie_counts[params.chunk_base + chunk] = atomicLoad(&chunk_ties);
  }
}
