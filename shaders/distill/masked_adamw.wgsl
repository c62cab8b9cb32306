// AdamW for distilling a pruned model: only the weights that are trainable and kept move; pruned weights stay
// exactly 0 with zero moments. Two bitsets over the flat parameters (bit i & 31 of word i >> 5):
//   update: 1 = trainable and kept (the optimizer may change it);  kept: 0 = pruned (forced to 0).
// mask_grads: grad[i] = 0 where update is 0, before the global norm (train/adamw.wgsl norm_partial / norm_total),
//   so clipping measures only the gradient that is applied.
// update: where update is 1, train/adamw.wgsl's step: g = grad * min(1, max_norm / (norm + 1e-6));
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd p),
//   wd only for elements before decay_end (matrices). Where kept is 0: p = 0, m = v = 0 — the mask re-applied after
//   every step. Elsewhere (frozen, kept): untouched.

struct Params {
  count: u32,
  decay_end: u32,
  step: u32, // t, from 1
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  max_norm: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;   // [P]
@group(0) @binding(2) var<storage, read_write> weights: array<f32>; // [P]
@group(0) @binding(3) var<storage, read_write> moments: array<f32>; // [2P]: m then v
@group(0) @binding(4) var<storage, read> stats: array<f32>;         // [1 + lanes]: stats[0] = gradient norm
@group(0) @binding(5) var<storage, read> update_bits: array<u32>;   // [ceil(P / 32)]
@group(0) @binding(6) var<storage, read> kept_bits: array<u32>;     // [ceil(P / 32)]

fn bit(bits: u32, i: u32) -> bool {
  return ((bits >> (i & 31u)) & 1u) == 1u;
}

@compute @workgroup_size(64)
fn mask_grads(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.count) { return; }
  if (!bit(update_bits[i >> 5u], i)) { grads[i] = 0.0; }
}

@compute @workgroup_size(64)
fn update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.count) { return; }
  if (!bit(kept_bits[i >> 5u], i)) {
    weights[i] = 0.0;
    moments[i] = 0.0;
    moments[params.count + i] = 0.0;
    return;
  }
  if (!bit(update_bits[i >> 5u], i)) { return; }
  let clip = min(1.0, params.max_norm / (stats[0] + 1e-6));
  let g = grads[i] * clip;
  let m = params.beta1 * moments[i] + (1.0 - params.beta1) * g;
  let v = params.beta2 * moments[params.count + i] + (1.0 - params.beta2) * g * g;
  moments[i] = m;
  moments[params.count + i] = v;
  let t = f32(params.step);
  let m_hat = m / (1.0 - pow(params.beta1, t));
  let v_hat = v / (1.0 - pow(params.beta2, t));
  let decay = select(0.0, params.weight_decay, i < params.decay_end);
  let p = weights[i];
  weights[i] = p - params.lr * (m_hat / (sqrt(v_hat) + params.eps) + decay * p);
}
