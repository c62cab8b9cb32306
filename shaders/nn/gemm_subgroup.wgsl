// Shared subgroup matrix product for the forward's matrix kernels where the device has subgroups of 4 or more
// (nn/matmul_subgroup, moe/expert_gate_up_subgroup, moe/expert_down_subgroup; GpuContext.matrixKernels). Included
// FIRST (it carries the `enable` directive), before common/weights.wgsl and the kernel's own source.
//
// The shape of shaders/train/matmul.wgsl, which on CPU drivers runs several times more FLOPs per CPU-second than
// the workgroup-memory tiles of nn/gemm_tile.wgsl (bench/README.md): a workgroup of LANES invocations, each
// holding 8 rows x 2 columns of the output in registers. Every SG_STEP (8, or 4 where subgroups have 4 lanes) steps
// along k, lane j of each subgroup loads A(m0 + r, k0 + j) for the 8 rows r and hands them to every lane with
// subgroupBroadcast; each invocation reads its own two weight rows
// (W [N, K] k-contiguous, packed as common/weights.wgsl says, two k per u32 word where PAIRED). No workgroup memory,
// no barriers: on a CPU driver those cost more than the arithmetic. Each output is one sequential sum over k in
// increasing order, so results are deterministic (and equal the tile kernels' to rounding).
//
// Each including kernel declares the bindings `x` (activations, f32), `weight` (packed) and `keep_mask`, the
// override HAS_MASK, and `fn x_row_base(m: u32) -> u32`: the flat index of A row m's k = 0 in x (m < the row end
// it passes). It computes its two weight rows' flat indices (clamped into the matrix), calls sg_accumulate per
// 8-row chunk and reads the results with sg_result.
enable subgroups;
// Control flow is uniform per workgroup (every branch depends on the workgroup id, params and the dispatch plan);
// WGSL's analysis cannot see that through storage reads.
diagnostic(off, subgroup_uniformity);

// Lanes that load A and hand it out per step along k: 8, or 4 where subgroups have 4 lanes (SwiftShader).
override SG_STEP: u32 = 8u;
// Invocations per workgroup, a multiple of 8: the workgroup computes 2 LANES columns (narrower for narrow outputs).
override LANES: u32 = 64u;
// Rows per workgroup, a multiple of 8, done 8 at a time: the dispatch plan's tile (moe/dispatch_plan, GEMM_TILE).
override TILE_M: u32;
// K even: weight rows start on a word boundary, so k and k + 1 of a row come from one word (f16 / bf16).
override PAIRED: bool = false;

// Accumulators: rows m0 + 0..3 / 4..7 of this invocation's column 0 (lo0, hi0) and column 1 (lo1, hi1).
var<private> acc_lo0: vec4f;
var<private> acc_hi0: vec4f;
var<private> acc_lo1: vec4f;
var<private> acc_hi1: vec4f;

// Weight element i as f32, 0 where the keep-mask prunes it.
fn sg_weight(i: u32) -> f32 {
  let value = decode_weight(weight[weight_word(i)], i);
  return select(value, 0.0, HAS_MASK && !mask_keeps(keep_mask[i >> 5u], i));
}

// Weight elements i and i + 1, i even (one word for f16 / bf16), with the mask.
fn sg_weight_pair(i: u32) -> vec2f {
  var v: vec2f;
  if (WEIGHT_DTYPE == 0u) {
    v = vec2f(bitcast<f32>(weight[i]), bitcast<f32>(weight[i + 1u]));
  } else {
    v = decode_weight_pair(weight[i >> 1u]);
  }
  if (HAS_MASK) {
    let word = keep_mask[i >> 5u];
    v = select(vec2f(0.0), v, vec2<bool>(mask_keeps(word, i), mask_keeps(word, i + 1u)));
  }
  return v;
}

// W(row_base, k0 + 0 .. SG_STEP - 1) (the rest 0): k past `inner` is clamped into the row (its A is 0, so the value never counts).
fn sg_weights(row_base: u32, k0: u32, inner: u32) -> array<f32, 8> {
  var w: array<f32, 8>;
  if (PAIRED) {
    for (var j = 0u; j < SG_STEP / 2u; j++) {
      let v = sg_weight_pair(row_base + min(k0 + 2u * j, inner - 2u));
      w[2u * j] = v.x;
      w[2u * j + 1u] = v.y;
    }
  } else {
    for (var j = 0u; j < SG_STEP; j++) {
      w[j] = sg_weight(row_base + min(k0 + j, inner - 1u));
    }
  }
  return w;
}

fn sg_step(lo: vec4f, hi: vec4f, w0: f32, w1: f32) {
  acc_lo0 += lo * w0;
  acc_hi0 += hi * w0;
  acc_lo1 += lo * w1;
  acc_hi1 += hi * w1;
}

// The accumulators := A(rows m0 .. m0 + 7 below m_end, k < inner) . W(rows w_row0, w_row1)^T.
fn sg_accumulate(m0: u32, m_end: u32, inner: u32, w_row0: u32, w_row1: u32, sg_lane: u32) {
  acc_lo0 = vec4f(0.0);
  acc_hi0 = vec4f(0.0);
  acc_lo1 = vec4f(0.0);
  acc_hi1 = vec4f(0.0);
  let lane = sg_lane % SG_STEP;
  var base: array<u32, 8>;
  var valid: array<bool, 8>;
  for (var r = 0u; r < 8u; r++) {
    valid[r] = m0 + r < m_end;
    base[r] = select(0u, x_row_base(m0 + r), valid[r]);
  }
  for (var k0 = 0u; k0 < inner; k0 += SG_STEP) {
    let k = k0 + lane;
    let kc = min(k, inner - 1u);
    let inside = k < inner;
    let a0 = select(0.0, x[base[0] + kc], inside && valid[0]);
    let a1 = select(0.0, x[base[1] + kc], inside && valid[1]);
    let a2 = select(0.0, x[base[2] + kc], inside && valid[2]);
    let a3 = select(0.0, x[base[3] + kc], inside && valid[3]);
    let a4 = select(0.0, x[base[4] + kc], inside && valid[4]);
    let a5 = select(0.0, x[base[5] + kc], inside && valid[5]);
    let a6 = select(0.0, x[base[6] + kc], inside && valid[6]);
    let a7 = select(0.0, x[base[7] + kc], inside && valid[7]);
    let w0 = sg_weights(w_row0, k0, inner);
    let w1 = sg_weights(w_row1, k0, inner);
    sg_step(vec4f(subgroupBroadcast(a0, 0u), subgroupBroadcast(a1, 0u), subgroupBroadcast(a2, 0u), subgroupBroadcast(a3, 0u)),
            vec4f(subgroupBroadcast(a4, 0u), subgroupBroadcast(a5, 0u), subgroupBroadcast(a6, 0u), subgroupBroadcast(a7, 0u)), w0[0], w1[0]);
    sg_step(vec4f(subgroupBroadcast(a0, 1u), subgroupBroadcast(a1, 1u), subgroupBroadcast(a2, 1u), subgroupBroadcast(a3, 1u)),
            vec4f(subgroupBroadcast(a4, 1u), subgroupBroadcast(a5, 1u), subgroupBroadcast(a6, 1u), subgroupBroadcast(a7, 1u)), w0[1], w1[1]);
    sg_step(vec4f(subgroupBroadcast(a0, 2u), subgroupBroadcast(a1, 2u), subgroupBroadcast(a2, 2u), subgroupBroadcast(a3, 2u)),
            vec4f(subgroupBroadcast(a4, 2u), subgroupBroadcast(a5, 2u), subgroupBroadcast(a6, 2u), subgroupBroadcast(a7, 2u)), w0[2], w1[2]);
    sg_step(vec4f(subgroupBroadcast(a0, 3u), subgroupBroadcast(a1, 3u), subgroupBroadcast(a2, 3u), subgroupBroadcast(a3, 3u)),
            vec4f(subgroupBroadcast(a4, 3u), subgroupBroadcast(a5, 3u), subgroupBroadcast(a6, 3u), subgroupBroadcast(a7, 3u)), w0[3], w1[3]);
    if (SG_STEP == 4u) { continue; }
    sg_step(vec4f(subgroupBroadcast(a0, 4u), subgroupBroadcast(a1, 4u), subgroupBroadcast(a2, 4u), subgroupBroadcast(a3, 4u)),
            vec4f(subgroupBroadcast(a4, 4u), subgroupBroadcast(a5, 4u), subgroupBroadcast(a6, 4u), subgroupBroadcast(a7, 4u)), w0[4], w1[4]);
    sg_step(vec4f(subgroupBroadcast(a0, 5u), subgroupBroadcast(a1, 5u), subgroupBroadcast(a2, 5u), subgroupBroadcast(a3, 5u)),
            vec4f(subgroupBroadcast(a4, 5u), subgroupBroadcast(a5, 5u), subgroupBroadcast(a6, 5u), subgroupBroadcast(a7, 5u)), w0[5], w1[5]);
    sg_step(vec4f(subgroupBroadcast(a0, 6u), subgroupBroadcast(a1, 6u), subgroupBroadcast(a2, 6u), subgroupBroadcast(a3, 6u)),
            vec4f(subgroupBroadcast(a4, 6u), subgroupBroadcast(a5, 6u), subgroupBroadcast(a6, 6u), subgroupBroadcast(a7, 6u)), w0[6], w1[6]);
    sg_step(vec4f(subgroupBroadcast(a0, 7u), subgroupBroadcast(a1, 7u), subgroupBroadcast(a2, 7u), subgroupBroadcast(a3, 7u)),
            vec4f(subgroupBroadcast(a4, 7u), subgroupBroadcast(a5, 7u), subgroupBroadcast(a6, 7u), subgroupBroadcast(a7, 7u)), w0[7], w1[7]);
  }
}

// Output row m0 + i (i < 8) of this invocation's column `column` (0 or 1).
fn sg_result(i: u32, column: u32) -> f32 {
  let lo = select(acc_lo0, acc_lo1, column == 1u);
  let hi = select(acc_hi0, acc_hi1, column == 1u);
  return select(lo[i % 4u], hi[i % 4u], i >= 4u);
}
