// N:M semi-structured pruning: in every block of M = `block` consecutive input columns of a row keep the
// N = `keep` largest scores, ties kept by the higher index (the lower index is pruned first, as a stable ascending
// sort would). One invocation per mask word ranks the blocks overlapping its 32 elements in registers, so words
// are written whole, never shared. cols is a multiple of M (the host checks), so a flat block never spans rows.
// Include weights.wgsl, score.wgsl.

struct Params {
  element_count: u32, // rows * cols
  cols: u32,
  weight_base: u32,
  mask_word_base: u32,
  stream_key: u32,
  keep: u32,  // N
  block: u32, // M <= 16
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;        // W [rows, cols], WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> column_factors: array<f32>; // [cols]
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;     // bitset over rows * cols

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let word = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  let lo = word * 32u;
  if (lo >= params.element_count) {
    return;
  }
  let hi = min(lo + 32u, params.element_count);
  var kept = 0u;
  var keys: array<u32, 16>;
  for (var start = (lo / params.block) * params.block; start < hi; start += params.block) {
    let first_col = start % params.cols;
    for (var j = 0u; j < params.block; j++) {
      keys[j] = score_key(params.weight_base + start + j, start + j, first_col + j, params.stream_key);
    }
    for (var j = 0u; j < params.block; j++) {
      let e = start + j;
      if (e < lo || e >= hi) {
        continue;
      }
      // Position of element j in the block's stable ascending order; the first M - N positions are pruned.
      var position = 0u;
      for (var i = 0u; i < params.block; i++) {
        position += select(0u, 1u, keys[i] < keys[j] || (keys[i] == keys[j] && i < j));
      }
      if (position >= params.block - params.keep) {
        kept |= 1u << (e - lo);
      }
    }
  }
  mask[params.mask_word_base + word] = kept;
}
