// The interface of moe/expert_down and moe/expert_down_subgroup (one host fills both): parameters, bindings, overrides.

struct Params {
  rows: u32,
  hidden: u32,
  inter_size: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;               // inter [rows, I], the down projection's input
@group(0) @binding(2) var<storage, read> weight: array<u32>;          // down [E, H, I] packed
@group(0) @binding(3) var<storage, read> keep_mask: array<u32>;       // bitset over [E, H, I] (HAS_MASK)
@group(0) @binding(4) var<storage, read> tiles: array<u32>;           // count, then (expert, first row) pairs
@group(0) @binding(5) var<storage, read> offsets: array<u32>;         // [E + 1]
@group(0) @binding(6) var<storage, read_write> expert_out: array<f32>; // [rows, H]
@group(0) @binding(7) var<storage, read> bias: array<f32>;            // [E, H] (HAS_BIAS)

override HAS_MASK: bool = false;
override GATHERED: bool = true;
override HAS_BIAS: bool = false;
