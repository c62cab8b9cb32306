// Shared register-blocked tile product for the matrix kernels (nn/matmul, moe/expert_gate_up, moe/expert_down);
// included after common/weights.wgsl, before the kernel's own source.
//
// One workgroup of 16 x 16 threads computes a TILE_M x TILE_N (64 x 64) output tile. Thread (tx, ty) owns the
// 4 x 4 outputs at rows ty + 16 i and columns tx + 16 j: strided, so neighbouring threads read neighbouring
// workgroup-memory words. The reduction dimension advances TILE_K (16) at a time through two workgroup tiles the
// including kernel fills, k-major: tile_a[k][m] (activations, the rows) and tile_b[k][n] (weights, the columns).
// Every output is accumulated in the same fixed order over k, so results are bitwise reproducible run to run.
//
// Each kernel that includes this file declares the bindings `x` (activations, f32), `weight` (packed, see
// weights.wgsl) and `keep_mask`, and the override `HAS_MASK`; it works out which activation row and which weight
// row this thread loads (tile_load_row) and calls gemm_accumulate, then writes its own epilogue.

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>; // [TILE_K, TILE_M]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K, TILE_N]

// The tile loaders: 256 threads each fill 4 consecutive k of one tile row (row = lid / 4, k = (lid % 4) * 4 + 0..3)
// of both tiles: row tile_load_row(lid) of tile_a (an activation row) and of tile_b (a weight row).
fn tile_load_row(lid: u32) -> u32 {
  return lid / 4u;
}

fn tile_load_k(lid: u32) -> u32 {
  return (lid % 4u) * 4u;
}

// Weight element `index` (flat over the stored matrix) as f32, or 0 where the keep-mask prunes it: masks are
// applied on the fly, so dense and pruned forwards share one copy of the weights.
fn masked_weight(index: u32) -> f32 {
  let value = decode_weight(weight[weight_word(index)], index);
  if (HAS_MASK && !mask_keeps(keep_mask[index >> 5u], index)) {
    return 0.0;
  }
  return value;
}

// acc[i * 4 + j] += sum over the TILE_K k of tile_a[k][ty + 16 i] * tile_b[k][tx + 16 j].
fn tile_multiply_accumulate(acc: ptr<function, array<f32, 16>>, tx: u32, ty: u32) {
  for (var k = 0u; k < TILE_K; k++) {
    var a: array<f32, 4>;
    var b: array<f32, 4>;
    for (var i = 0u; i < 4u; i++) {
      a[i] = tile_a[k * TILE_M + ty + 16u * i];
      b[i] = tile_b[k * TILE_N + tx + 16u * i];
    }
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 4u; j++) {
        (*acc)[i * 4u + j] += a[i] * b[j];
      }
    }
  }
}

// acc += the product of this workgroup's activation rows and weight rows over k < inner. This thread loads
// x[x_row + k] into its tile_a row when x_valid and weight element w_row + k into its tile_b row when w_valid
// (x_row, w_row: flat element offsets of the rows' k = 0); out-of-range rows and k read as 0.
fn gemm_accumulate(acc: ptr<function, array<f32, 16>>, inner: u32, x_row: u32, x_valid: bool, w_row: u32, w_valid: bool,
                   local: vec3u, lid: u32) {
  let load_row = tile_load_row(lid);
  let load_k = tile_load_k(lid);
  for (var k0 = 0u; k0 < inner; k0 += TILE_K) {
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + load_k + j;
      var a = 0.0;
      var w = 0.0;
      if (k < inner) {
        if (x_valid) { a = x[x_row + k]; }
        if (w_valid) { w = masked_weight(w_row + k); }
      }
      tile_a[(load_k + j) * TILE_M + load_row] = a;
      tile_b[(load_k + j) * TILE_N + load_row] = w;
    }
    workgroupBarrier();
    tile_multiply_accumulate(acc, local.x, local.y);
    workgroupBarrier();
  }
}
