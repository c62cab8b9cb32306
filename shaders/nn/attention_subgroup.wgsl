// nn/attention on subgroups, for CPU drivers with subgroups of 8 or more (GpuContext.matrix step 8 on a software
// adapter): the same causal grouped-query attention as nn/attention.wgsl, with gpt_oss's sliding window and sinks,
//   out[t, h] = sum_{s <= t} softmax_s(scale * q[t, h] . k[s, g(h)]) v[s, g(h)],   g(h) = h / (Hq / Hkv),
// and the same flash-style online softmax (Dao et al. 2022, Alg. 1), laid out for 8 SIMD lanes instead of one
// query row per thread (whose q row and accumulator spill to memory on a CPU). A workgroup is one subgroup of 8
// lanes (LANES = 8) and takes TILE_M query rows of one head of one window, 8 rows at a time; per block of 16 keys:
// - the 8 x 16 scores with the shared subgroup product (nn/gemm_subgroup.wgsl: q rows as A, lane l's two key
//   rows kb + l and kb + 8 + l as its two weight rows, k read as f32 words);
// - each row's block max and sum across the lanes (subgroupMax, subgroupAdd), one exp per score;
// - acc[r, d] += p[r, key] v[key, d] with lane l owning d = l + 8 i: the 16 probabilities of a row are handed out
//   with subgroupBroadcast and v's rows are read 8 consecutive floats at a time.
// Sums over the lanes (the block's max and normalizer) are in the subgroup's order: deterministic on a device,
// equal to nn/attention to rounding.

struct Params {
  seq_len: u32,
  heads: u32,
  kv_heads: u32,
  scale: f32,
  sliding: u32, // 0: full causal attention
  // D, a runtime value on purpose: with a constant (an override, as nn/attention has) the loops over the row
  // unroll and lavapipe takes 10-25 s to compile the kernel at D = 64-128.
  head_dim: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // q [T, Hq, D] (the product's A)
@group(0) @binding(2) var<storage, read> weight: array<u32>;     // k [T, Hkv, D], f32 words (the product's weights)
@group(0) @binding(3) var<storage, read> keep_mask: array<u32>;  // never read (HAS_MASK false)
@group(0) @binding(4) var<storage, read> v: array<f32>;          // [T, Hkv, D]
@group(0) @binding(5) var<storage, read_write> out: array<f32>;  // [T, Hq, D]
@group(0) @binding(6) var<storage, read> sinks: array<f32>;      // [Hq] (HAS_SINKS)

override HAS_MASK: bool = false;
override HAS_SINKS: bool = false;

// Largest D / 8: the accumulator holds 8 rows of this many values per lane (D 256, the host's MAX_HEAD_DIM).
const MAX_PER_LANE: u32 = 32u;
// Stands in for -infinity: WGSL lets implementations assume floats are finite.
const NEG_BIG: f32 = -3.0e38;

var<private> window_base: u32; // first token of this workgroup's window
var<private> q_head: u32;

fn x_row_base(m: u32) -> u32 {
  return ((window_base + m) * params.heads + q_head) * params.head_dim;
}

// v[key, d] of this workgroup's kv head (keys clamped into the window, d past D read as 0).
fn v_at(key: u32, kv_head: u32, d: u32) -> f32 {
  let D = params.head_dim;
  let row = ((window_base + min(key, params.seq_len - 1u)) * params.kv_heads + kv_head) * D;
  return select(0.0, v[row + min(d, D - 1u)], d < D);
}

// Key `key` is visible from query t (causal, and inside the sliding window when there is one).
fn visible(key: u32, t: u32) -> bool {
  return key <= t && (params.sliding == 0u || key + params.sliding > t);
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sg_lane: u32) {
  let S = params.seq_len;
  let D = params.head_dim;
  let per_lane = (D + 7u) / 8u;
  q_head = wid.y;
  window_base = wid.z * S;
  let kv_head = q_head / (params.heads / params.kv_heads);
  let lane = sg_lane % 8u;
  let row_end = min(S, (wid.x + 1u) * TILE_M);
  for (var m0 = wid.x * TILE_M; m0 < row_end; m0 += 8u) {
    var m: array<f32, 8>;
    var l: array<f32, 8>;
    var acc: array<f32, 256>; // [8 rows, MAX_PER_LANE]: row r, d = lane + 8 i at r * MAX_PER_LANE + i
    for (var r = 0u; r < 8u; r++) {
      // Explicitly: the declaration's zero-initialization was not redone per chunk on lavapipe.
      for (var i = 0u; i < per_lane; i++) { acc[r * MAX_PER_LANE + i] = 0.0; }
      m[r] = NEG_BIG;
      l[r] = 0.0;
      if (HAS_SINKS) {
        m[r] = sinks[q_head];
        l[r] = 1.0;
      }
    }
    let last_query = min(m0 + 7u, S - 1u);
    var first_key = 0u;
    if (params.sliding > 0u && m0 + 1u > params.sliding) { first_key = m0 + 1u - params.sliding; }
    for (var kb = first_key; kb <= last_query; kb += 16u) {
      let key0 = kb + lane;
      let key1 = kb + 8u + lane;
      let k_row0 = ((window_base + min(key0, S - 1u)) * params.kv_heads + kv_head) * D;
      let k_row1 = ((window_base + min(key1, S - 1u)) * params.kv_heads + kv_head) * D;
      sg_accumulate(m0, row_end, D, k_row0, k_row1, sg_lane);
      var p0: array<f32, 8>;
      var p1: array<f32, 8>;
      var correction: array<f32, 8>;
      for (var r = 0u; r < 8u; r++) {
        let t = m0 + r;
        let ok0 = visible(key0, t);
        let ok1 = visible(key1, t);
        let s0 = select(NEG_BIG, sg_result(r, 0u) * params.scale, ok0);
        let s1 = select(NEG_BIG, sg_result(r, 1u) * params.scale, ok1);
        let m_new = max(m[r], subgroupMax(max(s0, s1)));
        correction[r] = exp(m[r] - m_new);
        p0[r] = select(0.0, exp(s0 - m_new), ok0);
        p1[r] = select(0.0, exp(s1 - m_new), ok1);
        l[r] = l[r] * correction[r] + subgroupAdd(p0[r] + p1[r]);
        m[r] = m_new;
      }
      for (var r = 0u; r < 8u; r++) {
        let c = correction[r];
        let a0 = subgroupBroadcast(p0[r], 0u);
        let a1 = subgroupBroadcast(p0[r], 1u);
        let a2 = subgroupBroadcast(p0[r], 2u);
        let a3 = subgroupBroadcast(p0[r], 3u);
        let a4 = subgroupBroadcast(p0[r], 4u);
        let a5 = subgroupBroadcast(p0[r], 5u);
        let a6 = subgroupBroadcast(p0[r], 6u);
        let a7 = subgroupBroadcast(p0[r], 7u);
        let b0 = subgroupBroadcast(p1[r], 0u);
        let b1 = subgroupBroadcast(p1[r], 1u);
        let b2 = subgroupBroadcast(p1[r], 2u);
        let b3 = subgroupBroadcast(p1[r], 3u);
        let b4 = subgroupBroadcast(p1[r], 4u);
        let b5 = subgroupBroadcast(p1[r], 5u);
        let b6 = subgroupBroadcast(p1[r], 6u);
        let b7 = subgroupBroadcast(p1[r], 7u);
        for (var i = 0u; i < per_lane; i++) {
          let d = lane + 8u * i;
          var a = acc[r * MAX_PER_LANE + i] * c;
          a += a0 * v_at(kb, kv_head, d) + a1 * v_at(kb + 1u, kv_head, d) + a2 * v_at(kb + 2u, kv_head, d) + a3 * v_at(kb + 3u, kv_head, d);
          a += a4 * v_at(kb + 4u, kv_head, d) + a5 * v_at(kb + 5u, kv_head, d) + a6 * v_at(kb + 6u, kv_head, d) + a7 * v_at(kb + 7u, kv_head, d);
          a += b0 * v_at(kb + 8u, kv_head, d) + b1 * v_at(kb + 9u, kv_head, d) + b2 * v_at(kb + 10u, kv_head, d) + b3 * v_at(kb + 11u, kv_head, d);
          a += b4 * v_at(kb + 12u, kv_head, d) + b5 * v_at(kb + 13u, kv_head, d) + b6 * v_at(kb + 14u, kv_head, d) + b7 * v_at(kb + 15u, kv_head, d);
          acc[r * MAX_PER_LANE + i] = a;
        }
      }
    }
    for (var r = 0u; r < 8u; r++) {
      let t = m0 + r;
      if (t >= row_end) { break; }
      for (var i = 0u; i < per_lane; i++) {
        let d = lane + 8u * i;
        if (d < D) { out[((window_base + t) * params.heads + q_head) * D + d] = acc[r * MAX_PER_LANE + i] / l[r]; }
      }
    }
  }
}
