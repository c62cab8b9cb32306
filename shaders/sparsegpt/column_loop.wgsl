// SparseGPT's column loop over one block of columns [start, start + width) (Frantar & Alistarh 2023, Algorithm 1;
// the reference code's inner `for i in range(count)`): column by column, q = w where kept and 0 where pruned,
// err = (w - q) / U_ii, and the optimal-brain-surgeon update of the block's later columns, w_j -= err U_ij. Rows
// are independent: one invocation per row, the workgroup's TILE_ROWS rows of the block in workgroup memory
// (column-major, so neighbouring invocations touch neighbouring words), no barrier inside the loop. Row i of U is
// the same for every row: it comes from cache. The per-column errors go to `err` for the lazy update of the
// columns after the block (trailing_update.wgsl).
// Masks: unstructured ones were chosen for the whole block before (block_select.wgsl) and are read from `mask`;
// N:M ones (nm_block = M > 0) are chosen here, per row, when the loop reaches a group of M columns, from the
// weights as updated so far: prune the M - N smallest w^2 / U_jj^2, ties lower column first; kept bits are OR-ed
// into `mask`. `loss` gathers the reference code's Losses per row: sum (w - q)^2 / U_ii^2 / 2.

struct Params {
  rows: u32,          // R
  cols: u32,          // C
  block_start: u32,
  block_width: u32,   // <= BLOCK
  first_matrix: u32,  // global index of matrix 0 of this chunk
  share: u32,         // matrices per factor
  mask_base: u32,     // element of this chunk's W[0, 0, 0] in `mask`
  nm_keep: u32,       // N (N:M only)
  nm_block: u32,      // M, or 0 for an unstructured mask
  row_tiles: u32,     // ceil(R / TILE_ROWS): workgroups per matrix
  matrices: u32,      // Z
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> work: array<f32>;         // W [Z, R, C]
@group(0) @binding(2) var<storage, read> factor: array<f32>;             // U [F, C, C]
@group(0) @binding(3) var<storage, read_write> mask: array<atomic<u32>>; // keep bitset
@group(0) @binding(4) var<storage, read_write> err: array<f32>;          // [Z, R, BLOCK]
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;         // [all matrices, R] running totals

override BLOCK: u32 = 128u;    // the block size B: columns held per row
override TILE_ROWS: u32 = 32u; // rows (and invocations) per workgroup

var<workgroup> tile: array<f32, TILE_ROWS * BLOCK>; // [B, TILE_ROWS]: column j of row t at j * TILE_ROWS + t

// (w / U_jj)^2 of column i of the block for this invocation's row.
fn nm_score(lid: u32, i: u32, factor_base: u32) -> f32 {
  let col = params.block_start + i;
  let ratio = tile[i * TILE_ROWS + lid] / factor[factor_base + col * params.cols + col];
  return ratio * ratio;
}

@compute @workgroup_size(TILE_ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let flat = wid.x + wid.y * nwg.x;
  if (flat >= params.row_tiles * params.matrices) {
    return;
  }
  let z = flat / params.row_tiles;
  let first_row = (flat % params.row_tiles) * TILE_ROWS;
  let R = params.rows;
  let C = params.cols;
  let start = params.block_start;
  let width = params.block_width;
  let factor_base = ((params.first_matrix + z) / params.share) * C * C;
  let tile_base = z * R * C + first_row * C + start; // W[z, first_row, start] in `work`
  let rows_here = min(TILE_ROWS, R - first_row);

  // Load row by row (consecutive invocations read consecutive columns), store column-major.
  for (var e = lid; e < rows_here * width; e += TILE_ROWS) {
    let t = e / width;
    let j = e % width;
    tile[j * TILE_ROWS + t] = work[tile_base + t * C + j];
  }
  workgroupBarrier();
  let r = first_row + lid;
  if (r < R) {
    let M = params.nm_block;
    let row_element = params.mask_base + z * R * C + r * C; // W[z, r, 0] in `mask`
    var group_keep = 0u;
    var row_loss = 0.0;
    for (var i = 0u; i < width; i++) {
      let col = start + i;
      let element = row_element + col;
      if (M > 0u && i % M == 0u) {
        // Rank each column of the group by (score, column); the M - N lowest ranks are pruned.
        group_keep = 0u;
        for (var g = 0u; g < M; g++) {
          let score = nm_score(lid, i + g, factor_base);
          var rank = 0u;
          for (var h = 0u; h < M; h++) {
            let other = nm_score(lid, i + h, factor_base);
            if (other < score || (other == score && h < g)) {
              rank++;
            }
          }
          if (rank >= M - params.nm_keep) {
            group_keep |= 1u << g;
            atomicOr(&mask[(element + g) >> 5u], 1u << ((element + g) & 31u));
          }
        }
      }
      var kept: bool;
      if (M > 0u) {
        kept = ((group_keep >> (i % M)) & 1u) == 1u;
      } else {
        kept = ((atomicLoad(&mask[element >> 5u]) >> (element & 31u)) & 1u) == 1u;
      }
      let u_row = factor_base + col * C + start; // U[col, start + j] = factor[u_row + j]
      let w = tile[i * TILE_ROWS + lid];
      let q = select(0.0, w, kept);
      let e = (w - q) / factor[u_row + i];
      row_loss += e * e / 2.0;
      tile[i * TILE_ROWS + lid] = q;
      err[(z * R + r) * BLOCK + i] = e;
      if (e != 0.0) {
        for (var j = i + 1u; j < width; j++) {
          tile[j * TILE_ROWS + lid] -= e * factor[u_row + j];
        }
      }
    }
    loss[(params.first_matrix + z) * R + r] += row_loss;
  }
  workgroupBarrier();
  for (var e = lid; e < rows_here * width; e += TILE_ROWS) {
    let t = e / width;
    let j = e % width;
    work[tile_base + t * C + j] = tile[j * TILE_ROWS + t];
  }
}
