// Dropped experts stay dropped while distilling: their router logits [T, E] become -1e30 before routing, so the
// softmax gives them p = 0 (exp underflows), top-K never picks them while K experts remain, the renormalization
// runs over the kept experts (as the inference forward's -inf logit does), and the router backward's p (dp - dot)
// gives them no gradient. A large finite value rather than -inf: WGSL lets implementations assume no infinities.

struct Params {
  tokens: u32,  // T
  experts: u32, // E
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> enabled: array<u32>;        // [E], 1 = enabled
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;   // [T, E]

const DROPPED_LOGIT: f32 = -1e30;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.tokens * params.experts) { return; }
  if (enabled[i % params.experts] == 0u) { logits[i] = DROPPED_LOGIT; }
}
