// SparseGPT's updated weights from the f32 working copy `work` [count] into a weight buffer in the checkpoint's
// dtype (packed as shaders/common/weights.wgsl says), from element out_base on: what the forward reads and an
// export writes, so both see the same values. f16 and bf16 round to nearest, ties to even, bit for bit as
// src/engine/prune/packing.ts (torch's .to(float16 / bfloat16)). One invocation per output word; a packed word
// only half inside the range keeps its other half. Pruned weights are exactly 0 in every dtype.

struct Params {
  count: u32,    // elements
  out_base: u32, // element of work[0] in `out`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> work: array<f32>;       // [count]
@group(0) @binding(2) var<storage, read_write> out: array<u32>;  // packed, WEIGHT_DTYPE

override WEIGHT_DTYPE: u32 = 0u; // 0 f32, 1 f16, 2 bf16

fn bf16_bits(value: f32) -> u32 {
  let bits = bitcast<u32>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return (bits >> 16u) | 0x40u;
  }
  return ((bits + 0x7fffu + ((bits >> 16u) & 1u)) >> 16u) & 0xffffu;
}

fn f16_bits(value: f32) -> u32 {
  let bits = bitcast<u32>(value);
  let sign = (bits >> 16u) & 0x8000u;
  let exponent = (bits >> 23u) & 0xffu;
  var mantissa = bits & 0x7fffffu;
  if (exponent == 0xffu) {
    return sign | 0x7c00u | select(0u, 0x200u, mantissa != 0u);
  }
  let e = i32(exponent) - 127 + 15;
  if (e >= 31) {
    return sign | 0x7c00u;
  }
  var half: u32;
  var rest: u32;
  var halfway: u32;
  if (e <= 0) {
    // An f16 subnormal: shift the 24-bit significand down.
    if (e < -10) {
      return sign;
    }
    mantissa |= 0x800000u;
    let shift = u32(14 - e);
    half = mantissa >> shift;
    rest = mantissa & ((1u << shift) - 1u);
    halfway = 1u << (shift - 1u);
  } else {
    half = (u32(e) << 10u) | (mantissa >> 13u);
    rest = mantissa & 0x1fffu;
    halfway = 0x1000u;
  }
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  if (rest > halfway || (rest == halfway && (half & 1u) == 1u)) {
    half += 1u;
  }
  return sign | half;
}

fn encoded(value: f32) -> u32 {
  return select(bf16_bits(value), f16_bits(value), WEIGHT_DTYPE == 1u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let index = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (WEIGHT_DTYPE == 0u) {
    if (index < params.count) {
      out[params.out_base + index] = bitcast<u32>(work[index]);
    }
    return;
  }
  let word = (params.out_base >> 1u) + index;
  let end = params.out_base + params.count;
  if (word * 2u >= end) {
    return;
  }
  var packed = 0u;
  if (word * 2u < params.out_base || word * 2u + 1u >= end) {
    packed = out[word];
  }
  for (var half = 0u; half < 2u; half++) {
    let element = word * 2u + half;
    if (element >= params.out_base && element < end) {
      let shift = half * 16u;
      packed = (packed & ~(0xffffu << shift)) | (encoded(work[element - params.out_base]) << shift);
    }
  }
  out[word] = packed;
}
