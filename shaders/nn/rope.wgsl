// Rotary position embedding, rotate-half convention (GPT-NeoX; transformers' apply_rotary_pos_emb), in place on
// x [T, heads, D]: for i < D/2, (x_i, x_{i+D/2}) -> (x_i cos - x_{i+D/2} sin, x_{i+D/2} cos + x_i sin) with
// angle = pos * theta^(-2i/D). Tokens are B windows of S: pos = t mod S. The cos/sin table [S, D/2] comes from
// the host, computed in f64 (GPU sin/cos of large angles are only accurate to ~1e-3 on some drivers).

struct Params {
  tokens: u32,
  heads: u32,
  head_dim: u32,
  seq_len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> cos_sin: array<vec2f>; // [S, D/2] (cos, sin)
@group(0) @binding(2) var<storage, read_write> x: array<f32>;   // [T, heads, D]

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let half = params.head_dim / 2u;
  let index = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid; // over [T, heads, D/2]
  if (index >= params.tokens * params.heads * half) { return; }
  let i = index % half;
  let row = index / half; // t * heads + head
  let t = row / params.heads;
  let rotation = cos_sin[(t % params.seq_len) * half + i];
  let at = row * params.head_dim + i;
  let a = x[at];
  let b = x[at + half];
  x[at] = a * rotation.x - b * rotation.y;
  x[at + half] = b * rotation.x + a * rotation.y;
}
