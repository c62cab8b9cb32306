// The SwiGLU activation of the expert kernels (moe/expert_gate_up and moe/expert_gate_up_subgroup), from the gate
// and up pre-activations of one intermediate feature: silu(g) * u (Shazeer 2020), or gpt_oss's clamped form
// (CLAMPED): g = min(gate, LIMIT), u = clamp(up, -LIMIT, LIMIT), (u + 1) * g * sigmoid(ALPHA * g).

override CLAMPED: bool = false;
override ALPHA: f32 = 1.702;
override LIMIT: f32 = 7.0;

// v * sigmoid(alpha * v), without exp overflow for large |v|.
fn silu_scaled(v: f32, alpha: f32) -> f32 {
  let e = exp(-abs(alpha * v));
  return v * select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

fn swiglu(gate: f32, up: f32) -> f32 {
  if (CLAMPED) {
    return (clamp(up, -LIMIT, LIMIT) + 1.0) * silu_scaled(min(gate, LIMIT), ALPHA);
  }
  return silu_scaled(gate, 1.0) * up;
}
