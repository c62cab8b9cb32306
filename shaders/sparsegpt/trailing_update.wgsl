// SparseGPT's lazy batch update (Frantar & Alistarh 2023, sec. 3.3; the reference code's
// W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])): after the column loop of block [start, start + width), the columns
// after it take all the block's OBS updates at once, W[:, end:] -= Err [R, width] x U[start:end, end:], a tiled
// matmul instead of width rank-1 updates. 64 x 64 outputs per workgroup (4 x 4 per invocation), inner dimension in
// steps of 16 through workgroup memory; each output is written by one invocation, summed in a fixed order.

struct Params {
  rows: u32,          // R
  cols: u32,          // C
  block_start: u32,
  block_width: u32,
  first_matrix: u32,  // global index of matrix 0 of this chunk
  share: u32,         // matrices per factor
  err_stride: u32,    // BLOCK: row stride of `err`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> work: array<f32>; // W [Z, R, C]
@group(0) @binding(2) var<storage, read> factor: array<f32>;     // U [F, C, C]
@group(0) @binding(3) var<storage, read> err: array<f32>;        // [Z, R, err_stride]

const TILE: u32 = 64u;
const INNER: u32 = 16u;
var<workgroup> err_tile: array<f32, 1024>;    // [64 rows, 16]
var<workgroup> factor_tile: array<f32, 1024>; // [16, 64 columns]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let R = params.rows;
  let C = params.cols;
  let end = params.block_start + params.block_width;
  let z = wid.z;
  let factor_base = ((params.first_matrix + z) / params.share) * C * C;
  let first_col = end + wid.x * TILE;  // columns of W
  let first_row = wid.y * TILE;
  let tx = lid % 16u;
  let ty = lid / 16u;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < params.block_width; k0 += INNER) {
    for (var e = lid; e < TILE * INNER; e += 256u) {
      let r = first_row + e / INNER;
      let k = k0 + e % INNER;
      err_tile[e] = select(0.0, err[(z * R + r) * params.err_stride + k], r < R && k < params.block_width);
      let kk = k0 + e / TILE;
      let c = first_col + e % TILE;
      factor_tile[e] = select(0.0, factor[factor_base + (params.block_start + kk) * C + c], kk < params.block_width && c < C);
    }
    workgroupBarrier();
    for (var k = 0u; k < INNER; k++) {
      for (var m = 0u; m < 4u; m++) {
        let e = err_tile[(ty * 4u + m) * INNER + k];
        for (var n = 0u; n < 4u; n++) {
          acc[m * 4u + n] += e * factor_tile[k * TILE + tx * 4u + n];
        }
      }
    }
    workgroupBarrier();
  }
  for (var m = 0u; m < 4u; m++) {
    let r = first_row + ty * 4u + m;
    for (var n = 0u; n < 4u; n++) {
      let c = first_col + tx * 4u + n;
      if (r < R && c < C) {
        work[(z * R + r) * C + c] -= acc[m * 4u + n];
      }
    }
  }
}
