// Dequantization of symmetric per-group codes (docs/quantization.md): value = (q - zero) * scale with zero =
// 2^(bits-1), into an f32 working buffer [count] that sparsegpt/encode_weights.wgsl then packs into the model's
// weight dtype (what the forward reads). Codes one byte each, four per u32; element i's scale is
// scales[i / group_size] (matrices [R, C] stacked, C a multiple of the group size). Exact in f32: |q - zero| <= 128
// times an f16 scale needs at most 19 significant bits.

struct Params {
  count: u32,       // elements of this dispatch (one or more whole matrices)
  base: u32,        // their first element in codes / work (a multiple of group_size)
  group_size: u32,
  bits: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;          // [elements / 4]
@group(0) @binding(2) var<storage, read> scales: array<f32>;         // [elements / group_size]
@group(0) @binding(3) var<storage, read_write> work: array<f32>;     // [elements]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let index = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (index >= params.count) {
    return;
  }
  let i = params.base + index;
  let code = (codes[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
  let zero = 1u << (params.bits - 1u);
  work[i] = (f32(code) - f32(zero)) * scales[i / params.group_size];
}
