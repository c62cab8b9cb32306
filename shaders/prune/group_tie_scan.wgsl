// Exclusive prefix sum of the tie counts over each group's chunks, in place: chunk c of a group then holds the
// number of the group's ties before it (matrices in request order, flat row-major within). One workgroup per
// group, 256 chunks per step. Include radix.wgsl.

@group(0) @binding(0) var<storage, read> group_chunks: array<u32>;     // [groups, 2]: first chunk, chunk count
@group(0) @binding(1) var<storage, read_write> tie_counts: array<u32>; // [chunks of all matrices]

var<workgroup> chunk_range: vec2u;

@compute @workgroup_size(SELECT_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    chunk_range = vec2u(group_chunks[wid.x * 2u], group_chunks[wid.x * 2u + 1u]);
  }
  let range = workgroupUniformLoad(&chunk_range);
  var ties_before = 0u;
  for (var step = 0u; step < range.y; step += SELECT_THREADS) {
    let index = step + lid;
    var count = 0u;
    if (index < range.y) {
      count = tie_counts[range.x + index];
    }
    let inclusive = workgroup_inclusive_scan(lid, count);
    if (index < range.y) {
      tie_counts[range.x + index] = ties_before + inclusive - count;
    }
    ties_before += workgroup_scan_total();
  }
}
