// nn/matmul on subgroups (GpuContext.matrixKernels 'subgroup'): the same linear layer as nn/matmul.wgsl,
//   y [M, N] = clip(scale * (x [M, K] . W [N, K]^T + bias [N])),  rows of x from x_row_offset,
// through the shared subgroup product (nn/gemm_subgroup.wgsl). Workgroup (c, t): columns 2 LANES c .. + 2 LANES - 1
// (invocation l owns columns n0 + l and n0 + l + LANES) and rows TILE_M t .., 8 rows at a time, so the
// workgroup's weight rows stay in cache across its row chunks.
// Parameters, bindings and overrides: nn/matmul_bindings.wgsl.

fn x_row_base(m: u32) -> u32 {
  return (params.x_row_offset + m) * params.inner;
}

fn store(m: u32, n: u32, value: f32) {
  if (n >= params.cols) { return; }
  var v = value;
  if (HAS_BIAS) { v += bias[n]; }
  v *= params.scale;
  if (CLIP) { v = clamp(v, -params.clip, params.clip); }
  y[m * params.cols + n] = v;
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sg_lane: u32) {
  let M = params.rows;
  let K = params.inner;
  let n0 = wid.x * 2u * LANES + lid;
  let n1 = n0 + LANES;
  let last = params.cols - 1u;
  let w_row0 = min(n0, last) * K;
  let w_row1 = min(n1, last) * K;
  let row_end = min(M, (wid.y + 1u) * TILE_M);
  for (var m0 = wid.y * TILE_M; m0 < row_end; m0 += 8u) {
    sg_accumulate(m0, row_end, K, w_row0, w_row1, sg_lane);
    for (var i = 0u; i < 8u; i++) {
      let m = m0 + i;
      if (m >= row_end) { break; }
      store(m, n0, sg_result(i, 0u));
      store(m, n1, sg_result(i, 1u));
    }
  }
}
