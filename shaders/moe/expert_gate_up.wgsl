// Grouped expert GEMM, first half of SwiGLU (Shazeer 2020): for every gathered row r routed to expert e,
//   inter[r, i] = silu(x[t(r)] . gate_e[i]) * (x[t(r)] . up_e[i]),  gate_e / up_e = rows i / I + i of gate_up[e].
// All experts in one dispatch: workgroup (column tile c, tile slot s) takes tile s of the list dispatch_plan made
// (an expert and its first row) and intermediate columns 32c .. 32c + 31; slots past the list's end return at
// once (the dispatch is sized for the worst case, ceil(T*K / 64) + E tiles). The 64 tile columns are the 32 gate
// rows then the 32 up rows of the same i, so each thread ends with gate and up of its own outputs
// (shaders/nn/gemm_tile.wgsl: thread columns tx, tx + 16 are gate, tx + 32, tx + 48 the matching up).
// GATHERED = false runs one dense SwiGLU on all `rows` rows of x instead (shared experts, dense MLP layers).
// gpt_oss: HAS_BIAS adds bias [E, 2I] (gate then up, as the weight rows) to the two pre-activations, and CLAMPED
// takes its SwiGLU (moe/swiglu.wgsl).
// Parameters, bindings and overrides: moe/expert_gate_up_bindings.wgsl.

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) local: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let H = params.hidden;
  let I = params.inter_size;
  let tile = grouped_tile(wid.y, lid);
  if (tile.z <= tile.y) { return; }
  let expert = tile.x;
  let row0 = tile.y;
  let row_end = min(tile.z, row0 + TILE_M);
  let i0 = wid.x * (TILE_N / 2u);

  // This thread's tile row: the activation row of gathered row r (a token of x), and weight row gate i or up I + i.
  let load_row = tile_load_row(lid);
  let r = row0 + load_row;
  var token = r;
  if (GATHERED && r < row_end) { token = sorted_rows[r] / params.top_k; }
  let i = i0 + load_row % (TILE_N / 2u);
  let weight_row = select(i, I + i, load_row >= TILE_N / 2u);
  var acc: array<f32, 16>;
  gemm_accumulate(&acc, H, token * H, r < row_end, (expert * 2u * I + weight_row) * H, i < I, local, lid);
  for (var m = 0u; m < 4u; m++) {
    let out_row = row0 + local.y + 16u * m;
    if (out_row >= row_end) { continue; }
    for (var j = 0u; j < 2u; j++) {
      let out_i = i0 + local.x + 16u * j;
      if (out_i >= I) { continue; }
      var g = acc[m * 4u + j];
      var u = acc[m * 4u + j + 2u];
      if (HAS_BIAS) {
        g += bias[expert * 2u * I + out_i];
        u += bias[expert * 2u * I + I + out_i];
      }
      inter[out_row * I + out_i] = swiglu(g, u);
    }
  }
}
