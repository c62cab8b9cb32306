// Token embedding gather: h [T, H] = table[ids[t]] * multiplier, the table [V, H] in the checkpoint dtype
// (packed, weights.wgsl). `multiplier` is Granite's embedding_multiplier, 1 elsewhere. Ids are checked on the
// host (0 <= id < V) before they reach the GPU.

struct Params {
  tokens: u32,
  hidden: u32,
  multiplier: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;       // [T]
@group(0) @binding(2) var<storage, read> table: array<u32>;     // [V, H] packed
@group(0) @binding(3) var<storage, read_write> h: array<f32>;   // [T, H]

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.tokens * params.hidden) { return; }
  let t = i / params.hidden;
  let element = ids[t] * params.hidden + i % params.hidden;
  h[i] = decode_weight(table[weight_word(element)], element) * params.multiplier;
}
