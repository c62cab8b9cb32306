// SwiGLU (Shazeer 2020) on the experts' rows: gu [R, 2I] holds gate pre-activations g (columns 0..I-1) and up
// projections u (columns I..2I-1), Mixtral's w1 and w3. forward: act = silu(g) * u  [R, I].
// backward: d g = d act * u * silu'(g), d u = d act * silu(g), with silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
// CLAMPED: gpt_oss's clamped SwiGLU (transformers' GptOssExperts._apply_gate), used by distillation:
//   gc = min(g, LIMIT), uc = clamp(u, -LIMIT, LIMIT), act = (uc + 1) * gc * sigmoid(ALPHA * gc);
//   d g = d act * (uc + 1) * s (1 + ALPHA gc (1 - s)) where g <= LIMIT, else 0; d u = d act * gc * s where
//   -LIMIT <= u <= LIMIT, else 0 (s = sigmoid(ALPHA gc); a clamp passes the gradient inside its range, bounds
//   included, as torch.clamp's backward).

struct Params {
  count: u32, // R * I
  width: u32, // I
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gu: array<f32>;          // [R, 2I]
@group(0) @binding(2) var<storage, read> d_act: array<f32>;       // [R, I] (backward)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // act [R, I] / d gu [R, 2I]

override CLAMPED: bool = false;
override ALPHA: f32 = 1.702;
override LIMIT: f32 = 7.0;

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// sigmoid without exp overflow for large |v| (the clamped variant's ALPHA * gc).
fn sigmoid_stable(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= params.count) { return; }
  let r = j / params.width;
  let i = j % params.width;
  let g = gu[r * 2u * params.width + i];
  let u = gu[r * 2u * params.width + params.width + i];
  if (CLAMPED) {
    let gc = min(g, LIMIT);
    out[j] = (clamp(u, -LIMIT, LIMIT) + 1.0) * gc * sigmoid_stable(ALPHA * gc);
  } else {
    out[j] = g * sigmoid(g) * u;
  }
}

@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= params.count) { return; }
  let r = j / params.width;
  let i = j % params.width;
  let at = r * 2u * params.width + i;
  let g = gu[at];
  let u = gu[at + params.width];
  let d = d_act[j];
  if (CLAMPED) {
    let gc = min(g, LIMIT);
    let s = sigmoid_stable(ALPHA * gc);
    out[at] = select(0.0, d * (clamp(u, -LIMIT, LIMIT) + 1.0) * s * (1.0 + ALPHA * gc * (1.0 - s)), g <= LIMIT);
    out[at + params.width] = select(0.0, d * gc * s, u >= -LIMIT && u <= LIMIT);
  } else {
    let s = sigmoid(g);
    out[at] = d * u * s * (1.0 + g * (1.0 - s));
    out[at + params.width] = d * g * s;
  }
}
