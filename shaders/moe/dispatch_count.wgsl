// Expert dispatch, step 1 of 3: how many of the T*K routing assignments chose each expert, and which tokens did.
// One invocation per assignment adds 1 to its expert's count and sets its token's bit in the expert's token bitmap
// (the host clears both first). Integer sums and bitwise ORs do not depend on the order of the atomics, so both are
// the same every run. An empty slot (expert NO_EXPERT) gets its row_of_slot here: NO_ROW.
// One workgroup per expert scanning every assignment, as this kernel did before, read E x T x K ids and reduced
// each count through 8 barriers: at 64 experts top-16 more than the routing itself cost on CPU drivers.
// Assignment a = t * K + slot. A token's K slots name K different experts (moe/route), so a bit stands for one
// assignment.

struct Params {
  assignments: u32,
  top_k: u32,
  words: u32, // bitmap words per expert: ceil(T / 32)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> expert_ids: array<u32>;               // [T * K]
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;     // [E], zero on entry
@group(0) @binding(3) var<storage, read_write> token_bits: array<atomic<u32>>; // [E, words], zero on entry
@group(0) @binding(4) var<storage, read_write> row_of_slot: array<u32>;        // [T * K]

const WORKGROUP_SIZE: u32 = 256u;
const NO_EXPERT: u32 = 0xffffffffu;
const NO_ROW: u32 = 0xffffffffu;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let a = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (a >= params.assignments) { return; }
  let expert = expert_ids[a];
  if (expert == NO_EXPERT) {
    row_of_slot[a] = NO_ROW;
    return;
  }
  let t = a / params.top_k;
  atomicAdd(&counts[expert], 1u);
  atomicOr(&token_bits[expert * params.words + t / 32u], 1u << (t % 32u));
}
