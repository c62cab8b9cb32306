// Next-token cross-entropy on logits [T, V], one invocation per token, in place: loss[t] = logsumexp(z_t) -
// z_t[target_t] (max-subtracted), and z_t becomes dL/dz_t = (softmax(z_t) - onehot(target_t)) * scale with
// scale = 1 / (tokens in the step): the mean over the step. total: one invocation adds loss [T] in order into
// sums[slot] (the step's mean loss, read back every few steps).

struct Params {
  tokens: u32, // T
  vocab: u32,  // V
  scale: f32,
  slot: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> targets: array<u32>;       // [T]
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;  // [T, V] -> dL/dz
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;    // [T]
@group(0) @binding(4) var<storage, read_write> sums: array<f32>;    // [slots]

override WRITE_GRADIENT: bool = true;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= params.tokens) { return; }
  let V = params.vocab;
  let base = t * V;
  var max_logit = logits[base];
  for (var v = 1u; v < V; v++) { max_logit = max(max_logit, logits[base + v]); }
  var sum = 0.0;
  for (var v = 0u; v < V; v++) { sum += exp(logits[base + v] - max_logit); }
  let label = targets[t];
  loss[t] = log(sum) + max_logit - logits[base + label];
  if (!WRITE_GRADIENT) { return; }
  let inv = 1.0 / sum;
  for (var v = 0u; v < V; v++) {
    let p = exp(logits[base + v] - max_logit) * inv;
    logits[base + v] = (p - select(0.0, 1.0, v == label)) * params.scale;
  }
}

@compute @workgroup_size(1)
fn total() {
  var sum = 0.0;
  for (var t = 0u; t < params.tokens; t++) { sum += loss[t]; }
  sums[params.slot] = sum * params.scale;
}
