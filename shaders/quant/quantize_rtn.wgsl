// Round-to-nearest symmetric per-group quantization (docs/quantization.md; GPTQ's sym=True grid, Frantar et al.
// 2022): one invocation per group of GROUP consecutive elements of a row. Matrices [R, C] lie one after another
// from element weight_base of the packed weights (C a multiple of the group size), so flat group gi covers
// elements gi * group_size .. + group_size - 1 of the stack and its scale is scales[gi] ([Z, R, C / group_size]).
//   scale = f16(2 max|w| / maxq) over the kept weights (all pruned or zero: f16(2 / maxq)),
//   q     = clamp(round(w / scale) + zero, 0, maxq), round half to even; a pruned or zero weight gets `zero`.
// Codes go out one byte each, four per u32 (group_size is a multiple of 4, so a group owns whole words).
// Include weights.wgsl.

struct Params {
  groups: u32,       // Z * R * C / group_size
  group_size: u32,   // columns per group, a multiple of 4
  bits: u32,         // 8, 4, 3 or 2
  weight_base: u32,  // element of W[0, 0, 0] in `weights`
  mask_base: u32,    // element of W[0, 0, 0] in `mask` (HAS_MASK)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;           // packed, WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> mask: array<u32>;              // keep bitset (HAS_MASK)
@group(0) @binding(3) var<storage, read_write> codes: array<u32>;       // [Z * R * C / 4], 4 codes per word
@group(0) @binding(4) var<storage, read_write> scales: array<f32>;      // [Z, R, C / group_size]

override HAS_MASK: bool = false;

// The f16 value nearest a positive finite x, as f32 (round half to even): the grid GPTQ's f16 scales lie on.
fn f16_round(x: f32) -> f32 {
  if (x < 6.103515625e-5) {
    // Below the smallest normal f16 the grid step is 2^-24; scaling by powers of two is exact.
    return round(x * 16777216.0) / 16777216.0;
  }
  let bits = bitcast<u32>(x);
  return bitcast<f32>((bits + 0xfffu + ((bits >> 13u) & 1u)) & ~0x1fffu);
}

fn weight_at(element: u32) -> f32 {
  let i = params.weight_base + element;
  let value = decode_weight(weights[weight_word(i)], i);
  if (HAS_MASK) {
    let m = params.mask_base + element;
    if (!mask_keeps(mask[m >> 5u], m)) {
      return 0.0;
    }
  }
  return value;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let gi = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (gi >= params.groups) {
    return;
  }
  let first = gi * params.group_size;
  let max_code = f32((1u << params.bits) - 1u);
  let zero = f32(1u << (params.bits - 1u));
  var max_abs = 0.0;
  for (var c = 0u; c < params.group_size; c++) {
    max_abs = max(max_abs, abs(weight_at(first + c)));
  }
  let scale = f16_round(2.0 * select(1.0, max_abs, max_abs > 0.0) / max_code);
  scales[gi] = scale;
  for (var c = 0u; c < params.group_size; c += 4u) {
    var word = 0u;
    for (var k = 0u; k < 4u; k++) {
      let w = weight_at(first + c + k);
      // An exact zero (pruned or not) is the zero code: w / scale = 0 gives it too, stated for clarity.
      let q = select(clamp(round(w / scale) + zero, 0.0, max_code), zero, w == 0.0);
      word |= u32(q) << (8u * k);
    }
    codes[(first + c) / 4u] = word;
  }
}
