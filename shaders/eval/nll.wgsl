// Next-token negative log-likelihood from a chunk of logits, one workgroup per row:
//   nll[t] = logsumexp(z_t) - z_t[target_t]   (log-softmax + NLL; max-subtracted, numerically stable),
// so perplexity needs only a [chunk, V] slice of logits at a time, never [T, V]. Rows without a target
// (NO_TARGET: the last token of a window) get 0. Reductions run in a fixed tree order (nn/workgroup_reduce.wgsl).

struct Params {
  rows: u32,
  vocab: u32,
  // First row of this chunk in `targets` and `nll` (both [T]).
  row_offset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;    // [rows, V]
@group(0) @binding(2) var<storage, read> targets: array<u32>;   // [T]
@group(0) @binding(3) var<storage, read_write> nll: array<f32>; // [T]

// Threads per row, a power of two <= 256 (the host's reductionWorkgroupSize).
override WORKGROUP_SIZE: u32 = 256u;
const NO_TARGET: u32 = 0xffffffffu;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let V = params.vocab;
  let base = row * V;
  var m = -3.0e38;
  for (var v = lid; v < V; v += WORKGROUP_SIZE) { m = max(m, logits[base + v]); }
  m = workgroup_max(m, lid);
  var s = 0.0;
  for (var v = lid; v < V; v += WORKGROUP_SIZE) { s += exp(logits[base + v] - m); }
  s = workgroup_sum(s, lid);
  if (lid == 0u) {
    let target_id = targets[params.row_offset + row];
    var value = 0.0;
    if (target_id != NO_TARGET) { value = log(s) + m - logits[base + target_id]; }
    nll[params.row_offset + row] = value;
  }
}
