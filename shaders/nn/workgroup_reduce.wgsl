// Workgroup-wide sum and max in a fixed pairwise tree order, so a reduction gives the same bits run to run (no
// atomics). For kernels of WORKGROUP_SIZE threads (a power of two <= 256 the including kernel declares); every
// thread gets the result. Both must be called in uniform control flow (they contain barriers).

var<workgroup> reduce_scratch: array<f32, 256>;

fn workgroup_sum(value: f32, lid: u32) -> f32 {
  reduce_scratch[lid] = value;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { reduce_scratch[lid] += reduce_scratch[lid + stride]; }
    workgroupBarrier();
  }
  let total = reduce_scratch[0];
  workgroupBarrier();
  return total;
}

fn workgroup_max(value: f32, lid: u32) -> f32 {
  reduce_scratch[lid] = value;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { reduce_scratch[lid] = max(reduce_scratch[lid], reduce_scratch[lid + stride]); }
    workgroupBarrier();
  }
  let result = reduce_scratch[0];
  workgroupBarrier();
  return result;
}
