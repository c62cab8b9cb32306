// Rotary position embedding (Su et al. 2021), rotate-half convention as transformers' Mixtral: for i < D/2,
// (x_i, x_{i+D/2}) -> (x_i cos - x_{i+D/2} sin, x_{i+D/2} cos + x_i sin) at angle pos * theta^(-2i/D), applied in
// place to the q and k parts of qkv [T, 3H] (head h, dim d at column part * H + h * D + d); pos = t mod S (each
// window starts at position 0). cos/sin come from a table [S, D/2, 2] made on the CPU in f64 (exact, and the same on
// every driver, where WGSL's sin/cos lose accuracy for angles far outside [-pi, pi]).
// forward also writes k^T and v^T [windows, heads, D, S]: the right operands of q k^T and dO v^T must be
// contiguous along the key position (see matmul.wgsl). backward applies the inverse rotation (R^T dy) to dq, dk.

struct Params {
  tokens: u32,  // T
  window: u32,  // S
  heads: u32,
  head_dim: u32, // D
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;        // [S, D/2, 2] cos, sin
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>;    // [T, 3H] (or d qkv in backward)
@group(0) @binding(3) var<storage, read_write> k_t: array<f32>;    // [windows, heads, D, S]
@group(0) @binding(4) var<storage, read_write> v_t: array<f32>;    // [windows, heads, D, S]

struct Site {
  valid: bool,
  t: u32,
  pos: u32,
  head: u32,
  i: u32,
  cos: f32,
  sin: f32,
}

fn site(gid: vec3u, nwg: vec3u) -> Site {
  var s: Site;
  let half = params.head_dim / 2u;
  let per_token = params.heads * half;
  let flat = gid.x + gid.y * nwg.x * 64u;
  s.t = flat / per_token;
  s.valid = s.t < params.tokens;
  let rest = flat % per_token;
  s.head = rest / half;
  s.i = rest % half;
  s.pos = s.t % params.window;
  let at = (s.pos * half + s.i) * 2u;
  s.cos = table[at];
  s.sin = table[at + 1u];
  return s;
}

fn rotate(at: u32, half: u32, cos: f32, sin: f32, sign: f32) {
  let a = qkv[at];
  let b = qkv[at + half];
  qkv[at] = a * cos - sign * b * sin;
  qkv[at + half] = b * cos + sign * a * sin;
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = site(gid, nwg);
  if (!s.valid) { return; }
  let H = params.heads * params.head_dim;
  let half = params.head_dim / 2u;
  let q_at = s.t * 3u * H + s.head * params.head_dim + s.i;
  rotate(q_at, half, s.cos, s.sin, 1.0);
  rotate(q_at + H, half, s.cos, s.sin, 1.0);
  let w = s.t / params.window;
  let tr = ((w * params.heads + s.head) * params.head_dim + s.i) * params.window + s.pos;
  let tr_half = tr + half * params.window;
  k_t[tr] = qkv[q_at + H];
  k_t[tr_half] = qkv[q_at + H + half];
  v_t[tr] = qkv[q_at + 2u * H];
  v_t[tr_half] = qkv[q_at + 2u * H + half];
}

@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = site(gid, nwg);
  if (!s.valid) { return; }
  let H = params.heads * params.head_dim;
  let half = params.head_dim / 2u;
  let q_at = s.t * 3u * H + s.head * params.head_dim + s.i;
  rotate(q_at, half, s.cos, s.sin, -1.0);
  rotate(q_at + H, half, s.cos, s.sin, -1.0);
}
