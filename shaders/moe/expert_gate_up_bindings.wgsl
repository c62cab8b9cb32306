// The interface of moe/expert_gate_up and moe/expert_gate_up_subgroup (one host fills both): parameters, bindings,
// overrides (CLAMPED, ALPHA, LIMIT: moe/swiglu.wgsl).

struct Params {
  rows: u32,
  hidden: u32,
  inter_size: u32,
  top_k: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;             // [T, H]
@group(0) @binding(2) var<storage, read> weight: array<u32>;        // gate_up [E, 2I, H] packed
@group(0) @binding(3) var<storage, read> keep_mask: array<u32>;     // bitset over [E, 2I, H] (HAS_MASK)
@group(0) @binding(4) var<storage, read> sorted_rows: array<u32>;   // [T * K] assignment of each gathered row
@group(0) @binding(5) var<storage, read> tiles: array<u32>;         // count, then (expert, first row) pairs
@group(0) @binding(6) var<storage, read> offsets: array<u32>;       // [E + 1]
@group(0) @binding(7) var<storage, read_write> inter: array<f32>;   // [rows, I] in gathered order
@group(0) @binding(8) var<storage, read> bias: array<f32>;          // [E, 2I] (HAS_BIAS)

override HAS_MASK: bool = false;
override GATHERED: bool = true;
override HAS_BIAS: bool = false;
