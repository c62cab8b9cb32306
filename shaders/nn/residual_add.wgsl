// Residual connection: out = x + multiplier * branch, elementwise over [T, H] (flattened to `count`).
// Granite scales every residual branch by `residual_multiplier` (GraniteMoe, transformers); other families use 1.

struct Params {
  count: u32,
  multiplier: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [T, H]
@group(0) @binding(2) var<storage, read> branch: array<f32>;  // [T, H]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [T, H]

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (i >= params.count) { return; }
  out[i] = x[i] + params.multiplier * branch[i];
}
