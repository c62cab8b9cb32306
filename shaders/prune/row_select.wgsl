// Unstructured pruning with one comparison group per output row (Wanda's and MoE-Pruner's default): one
// workgroup per row scores, radix-selects and writes the row's keep-mask in a single dispatch. Scores are
// recomputed from W on each pass (never stored): up to 3 histogram passes (usually 2: see the early exit) and the
// mask pass read the row, which a real GPU serves from cache after the first. Include weights.wgsl, score.wgsl, radix.wgsl, select.wgsl.

struct Params {
  rows: u32,
  cols: u32,
  weight_base: u32,    // the matrix's first element in `weights`
  mask_word_base: u32, // the matrix's first word in `mask`
  prune_count: u32,    // k = floor(cols * sparsity): pruned in every row
  stream_key: u32,     // random method: randomStreamKey(seed, stream)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;           // W [rows, cols], WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> column_factors: array<f32>;    // [cols]
@group(0) @binding(3) var<storage, read_write> mask: array<atomic<u32>>; // bitset over rows * cols

@compute @workgroup_size(SELECT_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let cols = params.cols;
  let row_start = row * cols;
  var threshold = 0u;
  var ties_to_prune = 0u;
  if (params.prune_count > 0u) {
    var rank = params.prune_count;
    for (var radix_pass = 0u; radix_pass < RADIX_PASSES; radix_pass++) {
      let shift = radix_shift(radix_pass);
      let prefix_mask = radix_prefix_mask(radix_pass);
      clear_histogram(lid);
      for (var col = lid; col < cols; col += SELECT_THREADS) {
        let key = score_key(params.weight_base + row_start + col, row_start + col, col, params.stream_key);
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
        // Every key with this prefix is pruned: so is everything up to the prefix's largest key, ties included.
        // Usually true once the prefix is unique (for 4096 continuous scores: after 2 passes), saving a read.
        threshold |= (1u << shift) - 1u;
        ties_to_prune = 0xffffffffu;
        break;
      }
    }
  }

  // Mask words overlapping the row, SELECT_THREADS at a time. A word shared with the neighbouring row (cols not a
  // multiple of 32) is OR-ed into a cleared mask; a word of its own is stored.
  let row_end = row_start + cols;
  let last_word = (row_end - 1u) >> 5u;
  var ties_before = 0u;
  for (var block = row_start >> 5u; block <= last_word; block += SELECT_THREADS) {
    let word = block + lid;
    let lo = max(word * 32u, row_start);
    let hi = min(word * 32u + 32u, row_end);
    let selected = select_word(lid, lo, hi, lo - row_start, cols, params.weight_base, params.stream_key,
                               threshold, ties_before, ties_to_prune);
    if (lo < hi) {
      if (hi - lo == 32u) {
        atomicStore(&mask[params.mask_word_base + word], selected.x);
      } else {
        atomicOr(&mask[params.mask_word_base + word], selected.x);
      }
    }
    ties_before += selected.y;
  }
}
