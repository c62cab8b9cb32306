// Row normalization y [rows, width] from x [rows, width], one workgroup per row:
// - RMSNorm (Zhang & Sennrich 2019; transformers' *RMSNorm): y = x * rsqrt(mean(x^2) + eps) * weight
// - LayerNorm (PhiMoE): y = (x - mean) * rsqrt(var + eps) * weight + bias, biased variance as torch computes it.
// Also the q/k norms: per head (Qwen3-MoE: rows = T * heads, width = D) or over the full q/k width (OLMoE:
// rows = T, width = heads * D), optionally followed by OLMoE's clip_qkv clamp, which transformers applies after
// the norm. Sums are reduced in a fixed tree order (nn/workgroup_reduce.wgsl): reproducible run to run.

struct Params {
  rows: u32,
  width: u32,
  eps: f32,
  clip: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [rows, width]
@group(0) @binding(2) var<storage, read> weight: array<f32>;  // [width]
@group(0) @binding(3) var<storage, read> bias: array<f32>;    // [width] (LayerNorm with bias)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [rows, width]

override WORKGROUP_SIZE: u32 = 256u;
// 0 = RMSNorm, 1 = LayerNorm.
override NORM_KIND: u32 = 0u;
override HAS_BIAS: bool = false;
override CLIP: bool = false;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; } // uniform: the whole workgroup shares `row`
  let width = params.width;
  let base = row * width;
  var mean = 0.0;
  if (NORM_KIND == 1u) {
    var s = 0.0;
    for (var i = lid; i < width; i += WORKGROUP_SIZE) { s += x[base + i]; }
    mean = workgroup_sum(s, lid) / f32(width);
  }
  var squares = 0.0;
  for (var i = lid; i < width; i += WORKGROUP_SIZE) {
    let d = x[base + i] - mean;
    squares += d * d;
  }
  let inv = inverseSqrt(workgroup_sum(squares, lid) / f32(width) + params.eps);
  for (var i = lid; i < width; i += WORKGROUP_SIZE) {
    var v = (x[base + i] - mean) * inv * weight[i];
    if (HAS_BIAS) { v += bias[i]; }
    if (CLIP) { v = clamp(v, -params.clip, params.clip); }
    y[base + i] = v;
  }
}
