// SparseGPT's unstructured mask for one block of columns [start, start + width) (Frantar & Alistarh 2023,
// Algorithm 1, "adaptive mask selection"): over all R x width weights of the block at once, prune the k smallest
// w^2 / U_jj^2, with w the working weights as the column loop left them (earlier blocks' updates applied).
// Exactly k = floor(R * width * sparsity) are pruned; ties go lower flat index first (row-major within the block),
// the CPU reference's rule (src/engine/sparsegpt/reference.ts).
// One workgroup per matrix: radix select over the f32 bits of the scores (non-negative, so they order like u32)
// with the pruning engine's helpers (shaders/prune/radix.wgsl, select.wgsl), then the block's mask words in index
// order with a running tie count. Keep bits are OR-ed into the mask, cleared by init_weights.wgsl.
// Include radix.wgsl and select.wgsl; this file provides the score_key they call.

struct Params {
  rows: u32,          // R
  cols: u32,          // C
  block_start: u32,   // first column of the block
  block_width: u32,   // columns in the block
  prune_count: u32,   // k
  first_matrix: u32,  // global index of matrix 0 of this chunk
  share: u32,         // matrices per factor
  mask_base: u32,     // element of this chunk's W[0, 0, 0] in `mask`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> work: array<f32>;               // [Z, R, C]
@group(0) @binding(2) var<storage, read> factor: array<f32>;             // U [F, C, C]
@group(0) @binding(3) var<storage, read_write> mask: array<atomic<u32>>; // keep bitset

var<private> factor_base: u32;

// Score of mask element `element` (in column `col`) as u32 bits: (w / U_jj)^2. The weight index and stream key
// of select.wgsl's signature are unused.
fn score_key(_weight_index: u32, element: u32, col: u32, _stream_key: u32) -> u32 {
  let ratio = work[element - params.mask_base] / factor[factor_base + col * params.cols + col];
  return bitcast<u32>(ratio * ratio);
}

@compute @workgroup_size(SELECT_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let R = params.rows;
  let C = params.cols;
  let start = params.block_start;
  let width = params.block_width;
  let z = wid.x;
  factor_base = ((params.first_matrix + z) / params.share) * C * C;
  let matrix_element = params.mask_base + z * R * C;
  var threshold = 0u;
  var ties_to_prune = 0u;
  if (params.prune_count > 0u) {
    var rank = params.prune_count;
    for (var radix_pass = 0u; radix_pass < RADIX_PASSES; radix_pass++) {
      let shift = radix_shift(radix_pass);
      let prefix_mask = radix_prefix_mask(radix_pass);
      clear_histogram(lid);
      for (var e = lid; e < R * width; e += SELECT_THREADS) {
        let col = start + e % width;
        let key = score_key(0u, matrix_element + (e / width) * C + col, col, 0u);
        if ((key & prefix_mask) == threshold) {
          atomicAdd(&histogram[radix_digit(key, radix_pass)], 1u);
        }
      }
      workgroupBarrier();
      let digit = pick_digit(lid, rank);
      threshold |= digit.x << shift;
      rank = digit.y;
      ties_to_prune = rank;
      if (digit.y == digit.z) {
        // Every key with this prefix is pruned, ties included: no need to resolve the lower digits.
        threshold |= (1u << shift) - 1u;
        ties_to_prune = 0xffffffffu;
        break;
      }
    }
  }
  // The block's mask words, row after row: each row's segment spans at most `span` words; a step covers
  // `rows_per_step` rows, invocation lid taking word lid % span of row lid / span (empty past the segment), so
  // local index order is flat index order and the tie count runs in the right order.
  let span = (width + 62u) / 32u;
  let rows_per_step = SELECT_THREADS / span;
  var ties_before = 0u;
  for (var first_row = 0u; first_row < R; first_row += rows_per_step) {
    let r = first_row + lid / span;
    var lo = 0u;
    var hi = 0u;
    var word = 0u;
    var segment_lo = 0u;
    if (r < R && lid < rows_per_step * span) {
      segment_lo = matrix_element + r * C + start;
      word = (segment_lo >> 5u) + lid % span;
      lo = max(word * 32u, segment_lo);
      hi = min(word * 32u + 32u, segment_lo + width);
    }
    let selected = select_word(lid, lo, hi, start + (lo - segment_lo), C, 0u, 0u, threshold, ties_before, ties_to_prune);
    if (lo < hi) {
      atomicOr(&mask[word], selected.x);
    }
    ties_before += selected.y;
  }
}
