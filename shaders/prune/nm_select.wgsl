// N:M semi-structured pruning: in every block of M = `block` consecutive input columns of a row keep the
// N = `keep` largest scores, ties kept by the higher index (the lower index is pruned first, as a stable ascending
// sort would). One invocation per mask word ranks the blocks overlapping its 32 elements in registers (on the
// 16-byte way, the same word of ROWS_PER_INVOCATION rows), so words are written whole, never shared. cols is a
// multiple of M (the host checks), so a flat block never spans rows.
// The word's weights and column factors are read 16 bytes at a time where the host allows it (params.vec4_loads,
// as in row_select.wgsl; score_keys8 in score.wgsl). Include weights.wgsl, score.wgsl.

struct Params {
  element_count: u32, // rows * cols
  cols: u32,
  weight_base: u32,
  mask_word_base: u32,
  stream_key: u32,
  keep: u32,  // N
  block: u32, // M <= 16
  vec4_loads: u32, // 1: score through score_keys8 (ScoredMatrix.vec4Loads: cols a multiple of 32, words whole in a row)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;        // W [rows, cols], WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> column_factors: array<f32>; // [cols]
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;     // bitset over rows * cols

override WORKGROUP_SIZE: u32 = 256u;
// M / 4 when 4 divides M and M divides 32 (2:4, 4:8, 8:16): blocks of whole vec4s that tile each word, ranked in
// loops of constant length over keys held in registers; 0: any other M, ranked by the general loop below. On a CPU
// driver the general loop's key array, indexed by a loop bound it cannot unroll, lives in memory and every element
// is loaded on its own; a GPU gains the same unrolled compares.
override BLOCK_VECS: u32 = 0u;
// Rows one invocation ranks on the 16-byte way (BLOCK_VECS > 0 and params.vec4_loads): the same 32 columns of
// ROWS_PER_INVOCATION consecutive rows, their column factors read once for all (NM_ROWS_PER_INVOCATION in the host).
override ROWS_PER_INVOCATION: u32 = 1u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let invocation = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (BLOCK_VECS > 0u && params.vec4_loads == 1u) {
    rank_word_column(invocation);
    return;
  }
  let word = invocation;
  let lo = word * 32u;
  if (lo >= params.element_count) {
    return;
  }
  let hi = min(lo + 32u, params.element_count);
  if (BLOCK_VECS > 0u) {
    mask[params.mask_word_base + word] = keep_bits_in_vec4_blocks(lo, hi);
    return;
  }
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

// The 16-byte way (every word whole in a row): invocation i ranks words i % (cols / 32) of rows
// ROWS_PER_INVOCATION * (i / (cols / 32)) onwards. Neighbouring invocations read neighbouring words of a row, and
// each reads its 32 column factors once for all its rows: wanda and moe-pruner read as many bytes of factors as of
// weights per word, and a CPU driver runs every load lane by lane.
fn rank_word_column(invocation: u32) {
  let words_per_row = params.cols / 32u;
  let rows = params.element_count / params.cols;
  let col = (invocation % words_per_row) * 32u;
  let first_row = (invocation / words_per_row) * ROWS_PER_INVOCATION;
  if (first_row >= rows) {
    return;
  }
  var factors: array<array<vec4f, 2>, 4>; // [32 / 8]
  for (var q = 0u; q < 4u; q++) {
    factors[q] = column_factors8(col + 8u * q);
  }
  let last_row = min(first_row + ROWS_PER_INVOCATION, rows);
  for (var row = first_row; row < last_row; row++) {
    let lo = row * params.cols + col;
    var keys: array<vec4u, 8>; // [32 / 4]
    for (var q = 0u; q < 4u; q++) {
      let eight = score_keys8_with(params.weight_base + lo + 8u * q, factors[q]);
      keys[2u * q] = eight[0];
      keys[2u * q + 1u] = eight[1];
    }
    mask[params.mask_word_base + lo / 32u] = keep_bits_of_vec4_keys(keys, lo, lo + 32u);
  }
}

// Keep bits of word [lo, hi) when blocks are BLOCK_VECS whole vec4s, on the 4-byte way: element 4v + c of the word
// is component c of keys[v]. Every block lies in one row (cols is a multiple of M), so its columns are consecutive;
// elements past hi (the matrix's end, whole blocks) score a clamped element and keep no bit.
fn keep_bits_in_vec4_blocks(lo: u32, hi: u32) -> u32 {
  var keys: array<vec4u, 8>; // [32 / 4]
  var col = lo % params.cols; // one division: a vec4 lies in one row, so its columns follow from the previous one's
  for (var v = 0u; v < 8u; v++) {
    let at = min(vec4u(lo + 4u * v) + vec4u(0u, 1u, 2u, 3u), vec4u(hi - 1u));
    keys[v] = score_keys4(vec4u(params.weight_base) + at, at, vec4u(col) + vec4u(0u, 1u, 2u, 3u), params.stream_key);
    col += 4u;
    if (col == params.cols) {
      col = 0u;
    }
  }
  return keep_bits_of_vec4_keys(keys, lo, hi);
}

// Keep bits of word [lo, hi) from its keys, element 4v + c in component c of keys[v].
fn keep_bits_of_vec4_keys(keys: array<vec4u, 8>, lo: u32, hi: u32) -> u32 {
  var kept = 0u;
  // Loops from 0 with constant trip counts, so that compilers unroll them and every index of keys is a constant: a
  // loop starting at another loop's variable stayed a loop on lavapipe, whose keys[v] then became a per-lane
  // load from memory (measured: most of the kernel's time at 2:4).
  for (var first = 0u; first < 8u; first += BLOCK_VECS) {
    for (var dv = 0u; dv < BLOCK_VECS; dv++) {
      let v = first + dv;
      // Position of each of keys[v]'s elements in the block's stable ascending order.
      let own = vec4u(4u * v) + vec4u(0u, 1u, 2u, 3u);
      var position = vec4u(0u);
      for (var du = 0u; du < BLOCK_VECS; du++) {
        let u = first + du;
        let other = keys[u];
        for (var c = 0u; c < 4u; c++) {
          let key = vec4u(other[c]);
          let earlier = vec4u(4u * u + c) < own;
          position += select(vec4u(0u), vec4u(1u), (key < keys[v]) | ((key == keys[v]) & earlier));
        }
      }
      let keep = (position >= vec4u(params.block - params.keep)) & (vec4u(lo + 4u * v) + vec4u(0u, 1u, 2u, 3u) < vec4u(hi));
      kept |= dot(select(vec4u(0u), vec4u(1u, 2u, 4u, 8u), keep), vec4u(1u)) << (4u * v);
    }
  }
  return kept;
}
