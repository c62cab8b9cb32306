// The interface of nn/matmul and nn/matmul_subgroup (one host fills both): parameters, bindings, overrides.

struct Params {
  rows: u32,
  cols: u32,
  inner: u32,
  x_row_offset: u32,
  scale: f32,
  clip: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [M, K] (from row x_row_offset)
@group(0) @binding(2) var<storage, read> weight: array<u32>;    // [N, K] packed
@group(0) @binding(3) var<storage, read> keep_mask: array<u32>; // bitset over [N, K] (HAS_MASK)
@group(0) @binding(4) var<storage, read> bias: array<f32>;      // [N] (HAS_BIAS)
@group(0) @binding(5) var<storage, read_write> y: array<f32>;   // [M, N]

override HAS_BIAS: bool = false;
override HAS_MASK: bool = false;
override CLIP: bool = false;
