// Moving rows between token order [T, H] and expert-row order [R, H] (see moe_dispatch.wgsl), no atomics:
// gather:     out[r, :] = x[t(r), :] * (SCALE_BY_GATE ? g(r) : 1)   (expert inputs; dL/dy rows in the backward)
// combine:    out[t, :] = residual[t, :] + sum_k g[t, k] * y[row(t, k), :]   (Mixtral's weighted expert sum)
// gate_grad:  dg[t, k] = dh[t, :] . y[row(t, k), :]
// input_grad: dx[t, :] = sum_k dx_rows[row(t, k), :] + sum_e dr[t, e] * router[e, :]  (the MoE input's gradient
//             through the experts and the router logits r = x router^T)
// t(r) = row_slot[r] / K; padding rows (NO_SLOT) are left alone: nothing downstream reads them.

struct Params {
  tokens: u32, // T
  width: u32,  // H
  top_k: u32,  // K
  experts: u32, // E
  rows: u32,   // R
  router_offset: u32, // element offset of router [E, H] in `weights` (input_grad)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_slot: array<u32>; // [R]
@group(0) @binding(2) var<storage, read> slot_row: array<u32>; // [T, K]
@group(0) @binding(3) var<storage, read> gates: array<f32>;    // [T, K] g, or dL/dr [T, E] (input_grad)
@group(0) @binding(4) var<storage, read> x: array<f32>;        // gather: [T, H]; combine/gate_grad/input_grad: rows [R, H]
@group(0) @binding(5) var<storage, read> other: array<f32>;    // combine: residual [T, H]; gate_grad: dh [T, H]; input_grad: weights
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

override SCALE_BY_GATE: bool = false;
const NO_SLOT: u32 = 0xffffffffu;

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let h = gid.x;
  let r = gid.y + gid.z * nwg.y;
  if (h >= params.width || r >= params.rows) { return; }
  let slot = row_slot[r];
  if (slot == NO_SLOT) { return; }
  let t = slot / params.top_k;
  out[r * params.width + h] = x[t * params.width + h] * select(1.0, gates[slot], SCALE_BY_GATE);
}

@compute @workgroup_size(64)
fn combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let h = gid.x;
  let t = gid.y + gid.z * nwg.y;
  if (h >= params.width || t >= params.tokens) { return; }
  var sum = other[t * params.width + h];
  for (var k = 0u; k < params.top_k; k++) {
    let slot = t * params.top_k + k;
    sum += gates[slot] * x[slot_row[slot] * params.width + h];
  }
  out[t * params.width + h] = sum;
}

@compute @workgroup_size(64)
fn gate_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let slot = gid.x + gid.y * nwg.x * 64u;
  if (slot >= params.tokens * params.top_k) { return; }
  let t = slot / params.top_k;
  let row = slot_row[slot];
  var dot = 0.0;
  for (var h = 0u; h < params.width; h++) {
    dot += other[t * params.width + h] * x[row * params.width + h];
  }
  out[slot] = dot;
}

@compute @workgroup_size(64)
fn input_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let h = gid.x;
  let t = gid.y + gid.z * nwg.y;
  if (h >= params.width || t >= params.tokens) { return; }
  var sum = 0.0;
  for (var k = 0u; k < params.top_k; k++) {
    sum += x[slot_row[t * params.top_k + k] * params.width + h];
  }
  for (var e = 0u; e < params.experts; e++) {
    sum += gates[t * params.experts + e] * other[params.router_offset + e * params.width + h];
  }
  out[t * params.width + h] = sum;
}
