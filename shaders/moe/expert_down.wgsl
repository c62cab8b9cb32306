// Grouped expert GEMM, second half of SwiGLU: for every gathered row r of expert e,
//   expert_out[r, h] = inter[r] . down_e[h],  down [E, H, I],
// the expert's output before it is weighted by the gate (moe/combine does that). Tiles as in expert_gate_up:
// workgroup (column tile c, tile slot s) takes tile s of dispatch_plan's list and hidden columns 64c .. 64c + 63.
// GATHERED = false: one dense down projection of all `rows` rows (shared experts, dense MLP layers).
// HAS_BIAS (gpt_oss): + bias [E, H] of the expert, before the gate weighs the output.
// Parameters, bindings and overrides: moe/expert_down_bindings.wgsl.

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) local: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let H = params.hidden;
  let I = params.inter_size;
  let tile = grouped_tile(wid.y, lid);
  if (tile.z <= tile.y) { return; }
  let row0 = tile.y;
  let row_end = min(tile.z, row0 + TILE_M);
  let col0 = wid.x * TILE_N;

  // This thread's tile row: gathered row r of inter and weight row n (hidden feature n of the expert's down).
  let r = row0 + tile_load_row(lid);
  let n = col0 + tile_load_row(lid);
  var acc: array<f32, 16>;
  gemm_accumulate(&acc, I, r * I, r < row_end, (tile.x * H + n) * I, n < H, local, lid);
  for (var m = 0u; m < 4u; m++) {
    let out_row = row0 + local.y + 16u * m;
    if (out_row >= row_end) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + local.x + 16u * j;
      if (c < H) {
        var value = acc[m * 4u + j];
        if (HAS_BIAS) { value += bias[tile.x * H + c]; }
        expert_out[out_row * H + c] = value;
      }
    }
  }
}
