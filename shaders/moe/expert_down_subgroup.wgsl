// moe/expert_down on subgroups (GpuContext.matrixKernels 'subgroup'): for every gathered row r of expert e,
//   expert_out[r, h] = inter[r] . down_e[h] (+ bias[e, h], gpt_oss),  down [E, H, I],
// the expert's output before the gate weighs it (moe/combine), through the shared subgroup product
// (nn/gemm_subgroup.wgsl). Workgroup (c, s): tile s of dispatch_plan's list (moe/grouped_tile.wgsl; TILE_M rows of
// one expert, 8 at a time) and hidden columns 2 LANES c .. + 2 LANES - 1. GATHERED = false: one dense down
// projection of all `rows` rows (shared experts, dense MLP layers).
// Parameters, bindings and overrides: moe/expert_down_bindings.wgsl.

fn x_row_base(m: u32) -> u32 {
  return m * params.inter_size;
}

fn store(expert: u32, m: u32, n: u32, value: f32) {
  let H = params.hidden;
  if (n >= H) { return; }
  var v = value;
  if (HAS_BIAS) { v += bias[expert * H + n]; }
  expert_out[m * H + n] = v;
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
  let n0 = wid.x * 2u * LANES + lid;
  let n1 = n0 + LANES;
  let w_row0 = (expert * H + min(n0, H - 1u)) * I;
  let w_row1 = (expert * H + min(n1, H - 1u)) * I;
  for (var m0 = tile.y; m0 < row_end; m0 += 8u) {
    sg_accumulate(m0, row_end, I, w_row0, w_row1, sg_lane);
    for (var r = 0u; r < 8u; r++) {
      let m = m0 + r;
      if (m >= row_end) { break; }
      store(expert, m, n0, sg_result(r, 0u));
      store(expert, m, n1, sg_result(r, 1u));
    }
  }
}
