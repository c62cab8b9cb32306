// Rotary position embedding in place on part of each head: x [T, heads, stride], the 2 * half dims from `offset`
// rotate, pair i by the angle pos * inv_freq[i] (pos = t mod S; tokens are B windows of S). Pairs are
// (i, i + half) (rotate-half, GPT-NeoX / transformers' apply_rotary_pos_emb) or, with INTERLEAVED, (2i, 2i + 1)
// (DeepSeek's complex rotation). Partial rotary (GLM-4.5) rotates the first dims of a head; MLA rotates the
// decoupled rope part after the nope dims. The cos/sin table [S, half] comes from the host, computed in f64 (GPU
// sin/cos of large angles are only accurate to ~1e-3 on some drivers) with YaRN's attention factor folded in.

struct Params {
  tokens: u32,
  heads: u32,
  stride: u32,
  seq_len: u32,
  offset: u32,
  half: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> cos_sin: array<vec2f>; // [S, half] (cos, sin)
@group(0) @binding(2) var<storage, read_write> x: array<f32>;   // [T, heads, stride]

override WORKGROUP_SIZE: u32 = 256u;
override INTERLEAVED: bool = false;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let half = params.half;
  let index = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid; // over [T, heads, half]
  if (index >= params.tokens * params.heads * half) { return; }
  let i = index % half;
  let row = index / half; // t * heads + head
  let t = row / params.heads;
  let rotation = cos_sin[(t % params.seq_len) * half + i];
  let at = row * params.stride + params.offset;
  let ia = select(at + i, at + 2u * i, INTERLEAVED);
  let ib = select(at + i + half, at + 2u * i + 1u, INTERLEAVED);
  let a = x[ia];
  let b = x[ib];
  x[ia] = a * rotation.x - b * rotation.y;
  x[ib] = b * rotation.x + a * rotation.y;
}
