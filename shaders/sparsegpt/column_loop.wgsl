// SparseGPT's column loop over one block of columns [start, start + width) (Frantar & Alistarh 2023, Algorithm 1;
// the reference code's inner `for i in range(count)`): column by column, q = w where kept and 0 where pruned,
// err = (w - q) / U_ii, and the optimal-brain-surgeon update of the block's later columns, w_j -= err U_ij. The
// block's columns stay in workgroup memory for the whole loop; rows are independent, so each workgroup owns
// TILE_ROWS rows and LANES invocations share each row's update. The per-column errors go to `err` for the lazy
// update of the columns after the block (trailing_update.wgsl).
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
override TILE_ROWS: u32 = 16u; // rows per workgroup, a power of two dividing 256
const THREADS: u32 = 256u;

var<workgroup> tile: array<f32, TILE_ROWS * BLOCK>;
var<workgroup> row_err: array<f32, TILE_ROWS>;

// (w / U_jj)^2 of column j of a row held in the tile.
fn nm_score(tile_row: u32, i: u32, factor_base: u32) -> f32 {
  let col = params.block_start + i;
  let ratio = tile[tile_row * BLOCK + i] / factor[factor_base + col * params.cols + col];
  return ratio * ratio;
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let lanes = THREADS / TILE_ROWS;
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
  let local_row = lid / lanes;
  let lane = lid % lanes;
  let r = first_row + local_row;
  let row_valid = r < R;
  let row_start = z * R * C + r * C; // of W[z, r, 0] in `work`

  for (var j = lane; j < width; j += lanes) {
    tile[local_row * BLOCK + j] = select(0.0, work[row_start + start + j], row_valid);
  }
  workgroupBarrier();
  var group_keep = 0u;
  var row_loss = 0.0;
  let M = params.nm_block;
  for (var i = 0u; i < width; i++) {
    let col = start + i;
    if (lane == 0u) {
      var e = 0.0;
      if (row_valid) {
        let element = params.mask_base + row_start + col;
        if (M > 0u && i % M == 0u) {
          // Rank each column of the group by (score, column); the M - N lowest ranks are pruned.
          group_keep = 0u;
          for (var g = 0u; g < M; g++) {
            let score = nm_score(local_row, i + g, factor_base);
            var rank = 0u;
            for (var h = 0u; h < M; h++) {
              let other = nm_score(local_row, i + h, factor_base);
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
        let w = tile[local_row * BLOCK + i];
        let q = select(0.0, w, kept);
        e = (w - q) / factor[factor_base + col * C + col];
        row_loss += e * e / 2.0;
        tile[local_row * BLOCK + i] = q;
        err[(z * R + r) * BLOCK + i] = e;
      }
      row_err[local_row] = e;
    }
    workgroupBarrier();
    let update = row_err[local_row];
    let u_row = factor_base + col * C + start; // U[col, start + j] = factor[u_row + j]
    for (var j = i + 1u + lane; j < width; j += lanes) {
      tile[local_row * BLOCK + j] -= update * factor[u_row + j];
    }
    workgroupBarrier();
  }
  for (var j = lane; j < width; j += lanes) {
    if (row_valid) {
      work[row_start + start + j] = tile[local_row * BLOCK + j];
    }
  }
  if (lane == 0u && row_valid) {
    loss[(params.first_matrix + z) * R + r] += row_loss;
  }
}
