// moe/expert_gate_up on subgroups (GpuContext.matrixKernels 'subgroup'): for every gathered row r routed to expert e,
//   inter[r, i] = swiglu(x[t(r)] . gate_e[i], x[t(r)] . up_e[i]),  gate_e / up_e = rows i / I + i of gate_up[e],
// through the shared subgroup product (nn/gemm_subgroup.wgsl). Workgroup (c, s): tile s of dispatch_plan's list
// (moe/grouped_tile.wgsl; TILE_M rows of one expert, 8 at a time) and intermediate features LANES c .. + LANES - 1;
// invocation l's two columns are gate and up of feature i = LANES c + l, so SwiGLU (moe/swiglu.wgsl) is applied in
// registers and only inter is written. GATHERED = false: one dense SwiGLU on all `rows` rows (shared experts,
// dense MLP layers). HAS_BIAS (gpt_oss): bias [E, 2I], gate then up, added to the pre-activations.
// Parameters, bindings and overrides: moe/expert_gate_up_bindings.wgsl.

// Gathered row m reads the token it was routed from.
fn x_row_base(m: u32) -> u32 {
  let token = select(m, sorted_rows[m] / params.top_k, GATHERED);
  return token * params.hidden;
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sg_lane: u32) {
  let H = params.hidden;
  let I = params.inter_size;
  let tile = grouped_tile(wid.y, lid);
  if (tile.z <= tile.y) { return; }
  let expert = tile.x;
  let row_end = min(tile.z, tile.y + TILE_M);
  let i = wid.x * LANES + lid;
  let ic = min(i, I - 1u);
  let gate_row = (expert * 2u * I + ic) * H;
  let up_row = (expert * 2u * I + I + ic) * H;
  for (var m0 = tile.y; m0 < row_end; m0 += 8u) {
    sg_accumulate(m0, row_end, H, gate_row, up_row, sg_lane);
    if (i >= I) { continue; }
    for (var r = 0u; r < 8u; r++) {
      let m = m0 + r;
      if (m >= row_end) { break; }
      var g = sg_result(r, 0u);
      var u = sg_result(r, 1u);
      if (HAS_BIAS) {
        g += bias[expert * 2u * I + i];
        u += bias[expert * 2u * I + I + i];
      }
      inter[m * I + i] = swiglu(g, u);
    }
  }
}
