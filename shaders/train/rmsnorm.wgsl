// RMSNorm (Zhang & Sennrich 2019) as Mixtral/transformers: y = x * r * w with r = 1 / sqrt(mean(x^2) + eps),
// over rows of H. forward keeps r [T] for the backward. Backward (y_i = w_i x_i r):
//   dx_j = r w_j dy_j - x_j r^3 / H * sum_i w_i dy_i x_i        (+ the residual stream's own gradient)
//   dw_i = sum_t dy[t, i] x[t, i] r[t]                            (one sequential sum per column: deterministic)
// One invocation per row (rows are short, H <= a few hundred: this is a small part of a step).

struct Params {
  rows: u32,
  width: u32, // H
  weight_offset: u32, // element offset of w [H] in `weights` / of dw [H] in `out` (weight_grad)
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [T, H]
@group(0) @binding(2) var<storage, read> weights: array<f32>;  // w at weight_offset
@group(0) @binding(3) var<storage, read> dy: array<f32>;       // [T, H] (backward; forward: any buffer)
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>; // [T] r, written by forward
@group(0) @binding(5) var<storage, read_write> out: array<f32>;  // y [T, H] / dx [T, H] (+=) / grads (dw)

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= params.rows) { return; }
  let base = row * params.width;
  var sum_sq = 0.0;
  for (var i = 0u; i < params.width; i++) {
    let v = x[base + i];
    sum_sq += v * v;
  }
  let r = inverseSqrt(sum_sq / f32(params.width) + params.eps);
  rstd[row] = r;
  for (var i = 0u; i < params.width; i++) {
    out[base + i] = x[base + i] * r * weights[params.weight_offset + i];
  }
}

// out (the residual stream's gradient, [T, H]) += dx.
@compute @workgroup_size(64)
fn backward_input(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= params.rows) { return; }
  let base = row * params.width;
  let r = rstd[row];
  var dot = 0.0;
  for (var i = 0u; i < params.width; i++) {
    dot += weights[params.weight_offset + i] * dy[base + i] * x[base + i];
  }
  let k = r * r * r * dot / f32(params.width);
  for (var i = 0u; i < params.width; i++) {
    out[base + i] += r * weights[params.weight_offset + i] * dy[base + i] - k * x[base + i];
  }
}

// One invocation per column i: dw_i into out[weight_offset + i].
@compute @workgroup_size(64)
fn backward_weight(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x;
  if (i >= params.width) { return; }
  var sum = 0.0;
  for (var t = 0u; t < params.rows; t++) {
    sum += dy[t * params.width + i] * x[t * params.width + i] * rstd[t];
  }
  out[params.weight_offset + i] = sum;
}
