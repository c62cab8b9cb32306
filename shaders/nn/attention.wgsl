// Causal grouped-query attention over B windows of S tokens (attention stays inside a window):
//   out[t, h] = sum_{s <= t} softmax_s(scale * q[t, h] . k[s, g(h)]) v[s, g(h)],   g(h) = h / (Hq / Hkv).
// Flash-style (Dao et al. 2022, "FlashAttention", Alg. 1): each query row keeps a running max m, normalizer l and
// weighted sum acc while key/value blocks stream through workgroup memory, so context length is bounded by
// neither workgroup memory nor registers, and the softmax is max-subtracted (numerically stable).
// One workgroup = BLOCK_Q query rows of one head of one window; one thread = one query row.
// gpt_oss: `sliding` w > 0 limits query t to keys t-w+1..t (transformers' sliding_window_overlay); HAS_SINKS adds
// the head's sink logit to each softmax's denominator (no value): the running max and normalizer start at
// (sink, 1) instead of (-inf, 0).

struct Params {
  seq_len: u32,
  heads: u32,
  kv_heads: u32,
  scale: f32,
  sliding: u32, // 0: full causal attention
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;         // [T, Hq, D]
@group(0) @binding(2) var<storage, read> k: array<f32>;         // [T, Hkv, D]
@group(0) @binding(3) var<storage, read> v: array<f32>;         // [T, Hkv, D]
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [T, Hq, D]
@group(0) @binding(5) var<storage, read> sinks: array<f32>;     // [Hq] (HAS_SINKS)

override BLOCK_Q: u32 = 64u;
override HAS_SINKS: bool = false;
// D, fixed per pipeline: loops over d have a constant trip count, so a driver can unroll them and keep the row's
// q and accumulator in registers (with a runtime bound they spill to local memory).
override HEAD_DIM: u32 = 128u;

// Largest HEAD_DIM: the per-thread arrays below are this long; the host refuses larger ones.
const MAX_HEAD_DIM: u32 = 256u;
// Floats per key/value tile, at most 2048 (2 x 8 KiB of workgroup memory, inside WebGPU's default 16 KiB): the host
// sets keys per tile x D (attentionTile in src/gpu/kernels/nn/attention.ts; fewer keys on CPU drivers, where
// workgroup memory costs compile time), so a tile holds min(MAX_BLOCK_KEYS, KV_TILE / D) whole keys.
override KV_TILE: u32 = 2048u;
const MAX_BLOCK_KEYS: u32 = 32u;
// Stands in for -infinity: WGSL lets implementations assume floats are finite.
const NEG_BIG: f32 = -3.0e38;

var<workgroup> k_tile: array<f32, KV_TILE>; // [keys, D]
var<workgroup> v_tile: array<f32, KV_TILE>; // [keys, D]

@compute @workgroup_size(BLOCK_Q)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let S = params.seq_len;
  let D = HEAD_DIM;
  let head = wid.y;
  let window = wid.z;
  let first_query = wid.x * BLOCK_Q;
  let t = first_query + lid; // position inside the window
  let valid = t < S;
  let kv_head = head / (params.heads / params.kv_heads);
  let block_keys = min(MAX_BLOCK_KEYS, KV_TILE / D);
  let q_base = ((window * S + t) * params.heads + head) * D;

  var q_row: array<f32, MAX_HEAD_DIM>;
  var acc: array<f32, MAX_HEAD_DIM>;
  if (valid) {
    for (var d = 0u; d < D; d++) { q_row[d] = q[q_base + d] * params.scale; }
  }
  var m = NEG_BIG;
  var l = 0.0;
  if (HAS_SINKS) {
    m = sinks[head];
    l = 1.0;
  }
  // First key this row sees, and the keys the block's first / last query can see (causal, windowed): the loop
  // bounds are the same for the whole workgroup.
  var first_key = 0u;
  var key_start = 0u;
  if (params.sliding > 0u) {
    first_key = select(0u, t + 1u - params.sliding, t + 1u > params.sliding);
    key_start = select(0u, first_query + 1u - params.sliding, first_query + 1u > params.sliding);
  }
  let key_end = min(S, first_query + BLOCK_Q);
  for (var kb = key_start; kb < key_end; kb += block_keys) {
    let n = min(block_keys, key_end - kb);
    for (var i = lid; i < n * D; i += BLOCK_Q) {
      let src = ((window * S + kb + i / D) * params.kv_heads + kv_head) * D + i % D;
      k_tile[i] = k[src];
      v_tile[i] = v[src];
    }
    workgroupBarrier();
    if (valid && t >= kb && first_key < kb + n) {
      let visible = min(n, t - kb + 1u);
      let j0 = select(0u, first_key - kb, first_key > kb);
      var scores: array<f32, MAX_BLOCK_KEYS>;
      var block_max = NEG_BIG;
      for (var j = j0; j < visible; j++) {
        var dot = 0.0;
        for (var d = 0u; d < D; d++) { dot += q_row[d] * k_tile[j * D + d]; }
        scores[j] = dot;
        block_max = max(block_max, dot);
      }
      let m_new = max(m, block_max);
      let correction = exp(m - m_new);
      l *= correction;
      for (var d = 0u; d < D; d++) { acc[d] *= correction; }
      for (var j = j0; j < visible; j++) {
        let p = exp(scores[j] - m_new);
        l += p;
        for (var d = 0u; d < D; d++) { acc[d] += p * v_tile[j * D + d]; }
      }
      m = m_new;
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var d = 0u; d < D; d++) { out[q_base + d] = acc[d] / l; }
  }
}
