// Expert dispatch, step 3 of 3: the gathered order. One workgroup per expert walks the assignments in order
// and gives each match the next row of its expert's range, by a workgroup prefix sum (Hillis & Steele) per
// chunk of 256: rows are grouped by expert and ascending in token within an expert, the same every run.
//   sorted_rows[row] = a = t * K + slot  (the gathered row's token t = a / K)
//   row_of_slot[a] = row, or NO_ROW for an empty slot (expert 0's workgroup writes those)

struct Params {
  assignments: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> expert_ids: array<u32>;        // [T * K]
@group(0) @binding(2) var<storage, read> offsets: array<u32>;           // [E + 1]
@group(0) @binding(3) var<storage, read_write> sorted_rows: array<u32>; // [T * K]
@group(0) @binding(4) var<storage, read_write> row_of_slot: array<u32>; // [T * K]

const WORKGROUP_SIZE: u32 = 256u;
const NO_EXPERT: u32 = 0xffffffffu;
const NO_ROW: u32 = 0xffffffffu;

var<workgroup> scan: array<u32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let expert = wid.x;
  var next_row = offsets[expert];
  for (var chunk = 0u; chunk < params.assignments; chunk += WORKGROUP_SIZE) {
    let a = chunk + lid;
    var chosen = NO_EXPERT;
    if (a < params.assignments) { chosen = expert_ids[a]; }
    let hit = chosen == expert;
    if (expert == 0u && a < params.assignments && chosen == NO_EXPERT) { row_of_slot[a] = NO_ROW; }
    scan[lid] = select(0u, 1u, hit);
    workgroupBarrier();
    // Inclusive prefix sum over the chunk.
    for (var stride = 1u; stride < WORKGROUP_SIZE; stride *= 2u) {
      var add = 0u;
      if (lid >= stride) { add = scan[lid - stride]; }
      workgroupBarrier();
      scan[lid] += add;
      workgroupBarrier();
    }
    if (hit) {
      let row = next_row + scan[lid] - 1u;
      sorted_rows[row] = a;
      row_of_slot[a] = row;
    }
    next_row += scan[WORKGROUP_SIZE - 1u];
    workgroupBarrier();
  }
}
