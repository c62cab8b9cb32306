// Expert dispatch, step 3 of 3: the gathered order. One workgroup per expert walks the assignments in order
// and gives each match the next row of its expert's range: each thread takes a contiguous segment of the
// assignments, counts its matches, and starts its rows after the matches of the segments before it (one barrier;
// a Hillis-Steele scan per chunk of 256 took 16 barriers a chunk, which on a CPU driver cost far more than the
// reads). Rows are grouped by expert and ascending in token within an expert, the same every run.
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

const WORKGROUP_SIZE: u32 = 64u;
const NO_EXPERT: u32 = 0xffffffffu;
const NO_ROW: u32 = 0xffffffffu;

var<workgroup> matches: array<u32, WORKGROUP_SIZE>; // matches of `expert` in each thread's segment

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let expert = wid.x;
  let A = params.assignments;
  let per_thread = (A + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
  let begin = min(lid * per_thread, A);
  let end = min(begin + per_thread, A);
  var count = 0u;
  for (var a = begin; a < end; a++) {
    let chosen = expert_ids[a];
    if (chosen == expert) { count++; }
    if (expert == 0u && chosen == NO_EXPERT) { row_of_slot[a] = NO_ROW; }
  }
  matches[lid] = count;
  workgroupBarrier();
  var row = offsets[expert];
  for (var i = 0u; i < lid; i++) { row += matches[i]; }
  for (var a = begin; a < end; a++) {
    if (expert_ids[a] == expert) {
      sorted_rows[row] = a;
      row_of_slot[a] = row;
      row++;
    }
  }
}
