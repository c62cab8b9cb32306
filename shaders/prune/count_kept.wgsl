// Achieved sparsity: kept weights (set bits) of one matrix's keep-mask, added into kept_counts[slot].

struct Params {
  element_count: u32,
  mask_word_base: u32,
  slot: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mask: array<u32>;                 // bitset over element_count
@group(0) @binding(2) var<storage, read_write> kept_counts: array<atomic<u32>>; // [matrices]

var<workgroup> workgroup_kept: atomic<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let word = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (lid == 0u) {
    atomicStore(&workgroup_kept, 0u);
  }
  workgroupBarrier();
  let lo = word * 32u;
  if (lo < params.element_count) {
    // Bits past the last element are 0 by contract; masking them keeps a foreign mask from inflating the count.
    let valid = select((1u << (params.element_count - lo)) - 1u, 0xffffffffu, params.element_count - lo >= 32u);
    atomicAdd(&workgroup_kept, countOneBits(mask[params.mask_word_base + word] & valid));
  }
  workgroupBarrier();
  if (lid == 0u) {
    atomicAdd(&kept_counts[params.slot], atomicLoad(&workgroup_kept));
  }
}
