// Linear layer y [M, N] = clip(scale * (x [M, K] . W [N, K]^T + bias [N])), W row-major [out, in] as nn.Linear
// stores it, in the checkpoint dtype (packed, weights.wgsl), with an optional keep-mask over W's flat index.
// Used for the q/k/v/o projections, the router, the shared-expert gate and the LM head (chunks of rows:
// x_row_offset picks the first row of x). `scale` is 1 except for the LM head (1 / logits_scaling, Granite);
// CLIP clamps to [-clip, clip] (OLMoE's clip_qkv).
// Parameters, bindings and overrides: nn/matmul_bindings.wgsl.

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) local: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let M = params.rows;
  let N = params.cols;
  let K = params.inner;
  let row0 = wid.y * TILE_M;
  let col0 = wid.x * TILE_N;
  // This thread's tile row: activation row r and weight row n.
  let r = row0 + tile_load_row(lid);
  let n = col0 + tile_load_row(lid);
  var acc: array<f32, 16>;
  gemm_accumulate(&acc, K, (params.x_row_offset + r) * K, r < M, n * K, n < N, local, lid);
  for (var i = 0u; i < 4u; i++) {
    let out_row = row0 + local.y + 16u * i;
    if (out_row >= M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + local.x + 16u * j;
      if (c >= N) { continue; }
      var v = acc[i * 4u + j];
      if (HAS_BIAS) { v += bias[c]; }
      v *= params.scale;
      if (CLIP) { v = clamp(v, -params.clip, params.clip); }
      y[out_row * N + c] = v;
    }
  }
}
