// Expert dispatch, step 1 of 3: how many of the T*K routing assignments chose each expert. One workgroup per
// expert scans the whole assignment list: no atomics, a fixed reduction order, the same counts every run.
// Assignment a = t * K + slot; expert_ids[a] == NO_EXPERT (an empty slot) never matches.

struct Params {
  assignments: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> expert_ids: array<u32>;   // [T * K]
@group(0) @binding(2) var<storage, read_write> counts: array<u32>; // [E]

const WORKGROUP_SIZE: u32 = 256u;

var<workgroup> partial: array<u32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let expert = wid.x;
  var n = 0u;
  for (var a = lid; a < params.assignments; a += WORKGROUP_SIZE) {
    n += select(0u, 1u, expert_ids[a] == expert);
  }
  partial[lid] = n;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { counts[expert] = partial[0]; }
}
