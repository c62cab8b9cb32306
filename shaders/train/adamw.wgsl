// AdamW (Loshchilov & Hutter 2019) over the flat parameter buffer, with global-norm gradient clipping.
// norm_partial: partial[i] = sum over j of grad[j * LANES + i]^2 (LANES = 4096 invocations, a fixed order);
// norm_total: one invocation sums the partials in order: grad_norm = sqrt(sum) into stats[0];
// update: g = grad * min(1, max_norm / (grad_norm + 1e-6));  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr * (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p)   (decoupled decay, only for the
//   elements before `decay_end`: the matrices; norms are not decayed).

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
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> moments: array<f32>; // [2 * count]: m then v
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;   // [1 + LANES]: grad norm, then partial sums

const LANES: u32 = 4096u;

@compute @workgroup_size(64)
fn norm_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x;
  if (i >= LANES) { return; }
  var sum = 0.0;
  for (var j = i; j < params.count; j += LANES) {
    let g = grads[j];
    sum += g * g;
  }
  stats[1u + i] = sum;
}

@compute @workgroup_size(1)
fn norm_total() {
  var sum = 0.0;
  for (var i = 0u; i < LANES; i++) { sum += stats[1u + i]; }
  stats[0] = sqrt(sum);
}

@compute @workgroup_size(64)
fn update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.count) { return; }
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
