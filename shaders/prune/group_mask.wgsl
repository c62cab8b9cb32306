// Keep-mask of one matrix of a matrix / layer comparison group, once the group's threshold t and tie budget are
// known: keys < t are pruned, and keys == t while the group's earlier ties (group_tie_scan.wgsl) have not used
// up the budget. One workgroup per chunk of 256 mask words.
// Include weights.wgsl, score.wgsl, radix.wgsl, select.wgsl.

struct Params {
  element_count: u32,
  cols: u32,
  weight_base: u32,
  stream_key: u32,
  group: u32,
  chunk_base: u32,
  mask_word_base: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;        // W [rows, cols], WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> column_factors: array<f32>; // [cols]
@group(0) @binding(3) var<storage, read> group_state: array<u32>;    // [groups, 2]: threshold, ties to prune
@group(0) @binding(4) var<storage, read> tie_offsets: array<u32>;    // [chunks]: group ties before each chunk
@group(0) @binding(5) var<storage, read_write> mask: array<u32>;     // bitset over rows * cols

@compute @workgroup_size(SELECT_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.x + wid.y * nwg.x;
  let word = chunk * SELECT_THREADS + lid;
  if (chunk * SELECT_THREADS * 32u >= params.element_count) {
    return;
  }
  let lo = min(word * 32u, params.element_count);
  let hi = min(lo + 32u, params.element_count);
  let selected = select_word(lid, lo, hi, lo % params.cols, params.cols, params.weight_base, params.stream_key,
                             group_state[params.group * 2u], tie_offsets[params.chunk_base + chunk],
                             group_state[params.group * 2u + 1u]);
  if (lo < hi) {
    mask[params.mask_word_base + word] = selected.x;
  }
}
