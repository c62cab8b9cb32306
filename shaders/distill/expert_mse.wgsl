// Expert-wise distillation loss (MoE-Pruner, Xie et al. 2024, sec. 3.3) on one MoE layer's expert rows [R, H]
// (expert e owns rows table[e] .. table[e] + table[E + e]; other rows belong to nobody).
// student = the pruned expert's outputs, teacher = the dense expert's outputs on the same input rows.
// mse:   result[mse_offset + e] = sum over e's rows and h of (student - teacher)^2 / (n_e H); 0 when n_e = 0.
//        One workgroup per expert, a fixed-order tree sum (workgroup_reduce.wgsl): same bits run to run.
// total: result[out_offset] = sum of the `count` values student[mse_offset ..] (the mse buffer bound read-only) in
//        index order (the layer's loss: the sum over its experts); one invocation.
// grad:  result[r, h] = 2 / (n_e H) (student - teacher)[r, h] = d mse_e / d student on expert rows, 0 elsewhere.

struct Params {
  experts: u32,     // E
  width: u32,       // H
  rows: u32,        // R (grad: rows of the grid)
  mse_offset: u32,  // mse: first slot written; total: first slot summed
  count: u32,       // total: values summed
  out_offset: u32,  // total: slot of `result`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;          // [2E] segment starts, then counts
@group(0) @binding(2) var<storage, read> student: array<f32>;        // [R, H]; total: mse values
@group(0) @binding(3) var<storage, read> teacher: array<f32>;        // [R, H]
@group(0) @binding(4) var<storage, read_write> result: array<f32>;   // mse: [.., E]; total: loss slots; grad: [R, H]

override WORKGROUP_SIZE: u32 = 64u; // for workgroup_reduce.wgsl

@compute @workgroup_size(WORKGROUP_SIZE)
fn expert_mse(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = wg.x;
  let start = table[e] * params.width;
  let n = table[params.experts + e];
  let end = start + n * params.width;
  var sum = 0.0;
  for (var i = start + lid; i < end; i += WORKGROUP_SIZE) {
    let d = student[i] - teacher[i];
    sum += d * d;
  }
  let total = workgroup_sum(sum, lid);
  if (lid == 0u) {
    result[params.mse_offset + e] = select(0.0, total / (f32(n) * f32(params.width)), n > 0u);
  }
}

@compute @workgroup_size(1)
fn expert_total() {
  var sum = 0.0;
  for (var i = 0u; i < params.count; i++) { sum += student[params.mse_offset + i]; }
  result[params.out_offset] = sum;
}

@compute @workgroup_size(64)
fn expert_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let h = gid.x;
  let r = gid.y + gid.z * nwg.y;
  if (h >= params.width || r >= params.rows) { return; }
  let i = r * params.width + h;
  for (var e = 0u; e < params.experts; e++) {
    let start = table[e];
    let n = table[params.experts + e];
    if (r >= start && r < start + n) {
      result[i] = 2.0 / (f32(n) * f32(params.width)) * (student[i] - teacher[i]);
      return;
    }
  }
  result[i] = 0.0;
}
