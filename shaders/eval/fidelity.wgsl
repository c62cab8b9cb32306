// Fidelity of a pruned model to the dense one at each position, from a chunk of both models' logits, one
// workgroup per row (CPU reference: fidelityOfRow in src/engine/reference/eval/fidelity.ts):
//   kl[t] = KL(p || q) = sum_v p_v (log p_v - log q_v),  p = softmax(dense_t), q = softmax(pruned_t), nats;
// with m_d, m_p the row maxima, s_d = sum exp(dense - m_d), s_p = sum exp(pruned - m_p) and
// a = sum exp(dense - m_d) * ((dense - m_d) - (pruned - m_p)), log p - log q = (dense - m_d) - (pruned - m_p)
// - log s_d + log s_p, so kl = a / s_d - log s_d + log s_p: max-subtracted, never exp of a large logit, and exactly 0
// when the two rows are equal. dense_top[t] / pruned_top[t]: the argmax of each row, the lowest token id among equal
// maxima (the first index whose logit equals the row maximum). Reductions run in a fixed tree order.

struct Params {
  rows: u32,
  vocab: u32,
  // First row of this chunk in kl, dense_top and pruned_top (all [T]).
  row_offset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dense: array<f32>;          // [rows, V]
@group(0) @binding(2) var<storage, read> pruned: array<f32>;         // [rows, V]
@group(0) @binding(3) var<storage, read_write> kl: array<f32>;       // [T]
@group(0) @binding(4) var<storage, read_write> dense_top: array<u32>;  // [T]
@group(0) @binding(5) var<storage, read_write> pruned_top: array<u32>; // [T]

const WORKGROUP_SIZE: u32 = 256u;

var<workgroup> index_scratch: array<u32, 256>;

// Smallest `value` over the workgroup (fixed tree order); every thread gets it. Uniform control flow only.
fn workgroup_min_u32(value: u32, lid: u32) -> u32 {
  index_scratch[lid] = value;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { index_scratch[lid] = min(index_scratch[lid], index_scratch[lid + stride]); }
    workgroupBarrier();
  }
  let result = index_scratch[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  // Uniform per workgroup: a whole workgroup returns together, so the barriers below stay in uniform flow.
  if (row >= params.rows) { return; }
  let V = params.vocab;
  let base = row * V;
  var md = -3.0e38;
  var mp = -3.0e38;
  for (var v = lid; v < V; v += WORKGROUP_SIZE) {
    md = max(md, dense[base + v]);
    mp = max(mp, pruned[base + v]);
  }
  md = workgroup_max(md, lid);
  mp = workgroup_max(mp, lid);
  var sd = 0.0;
  var sp = 0.0;
  var a = 0.0;
  var top_d = 0xffffffffu;
  var top_p = 0xffffffffu;
  for (var v = lid; v < V; v += WORKGROUP_SIZE) {
    let d = dense[base + v];
    let p = pruned[base + v];
    let zd = d - md;
    let zp = p - mp;
    let e = exp(zd);
    sd += e;
    sp += exp(zp);
    a += e * (zd - zp);
    if (d == md) { top_d = min(top_d, v); }
    if (p == mp) { top_p = min(top_p, v); }
  }
  sd = workgroup_sum(sd, lid);
  sp = workgroup_sum(sp, lid);
  a = workgroup_sum(a, lid);
  top_d = workgroup_min_u32(top_d, lid);
  top_p = workgroup_min_u32(top_p, lid);
  if (lid == 0u) {
    let t = params.row_offset + row;
    kl[t] = a / sd - log(sd) + log(sp);
    dense_top[t] = top_d;
    pruned_top[t] = top_p;
  }
}
