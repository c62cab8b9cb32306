// Groups the K expert choices of T tokens by expert, deterministically: expert e's rows are its assignments
// a = t * K + k in increasing a, in a segment starting at a multiple of 8 (the row tile of matmul.wgsl) right after
// expert e-1's. Writes table [2E] (segment starts, then row counts), row_slot [R] (the assignment a of each row;
// NO_SLOT for padding and unused rows) and slot_row [T, K] (each assignment's row). R = T * K + 8 E at most.
// count: one invocation per expert counts its assignments; place: one invocation per expert writes its rows.
// Sequential loops over T * K: a small cost next to the expert products, and no atomics.

struct Params {
  assignments: u32, // T * K
  experts: u32,     // E
  rows: u32,        // R, the capacity of row_slot
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> chosen: array<u32>;          // [T, K] expert ids
@group(0) @binding(2) var<storage, read_write> table: array<u32>;     // [2E]
@group(0) @binding(3) var<storage, read_write> row_slot: array<u32>;  // [R]
@group(0) @binding(4) var<storage, read_write> slot_row: array<u32>;  // [T, K]

const NO_SLOT: u32 = 0xffffffffu;
const ROW_ALIGN: u32 = 8u;

@compute @workgroup_size(64)
fn count(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x;
  if (e >= params.experts) { return; }
  var n = 0u;
  for (var a = 0u; a < params.assignments; a++) {
    if (chosen[a] == e) { n++; }
  }
  table[params.experts + e] = n;
}

@compute @workgroup_size(64)
fn place(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x;
  let E = params.experts;
  if (e >= E) { return; }
  var start = 0u;
  for (var prior = 0u; prior < e; prior++) {
    start += (table[E + prior] + ROW_ALIGN - 1u) / ROW_ALIGN * ROW_ALIGN;
  }
  table[e] = start;
  var row = start;
  for (var a = 0u; a < params.assignments; a++) {
    if (chosen[a] == e) {
      row_slot[row] = a;
      slot_row[a] = row;
      row++;
    }
  }
  // Padding to the next segment; the last expert also clears every row after it.
  var end = (row - start + ROW_ALIGN - 1u) / ROW_ALIGN * ROW_ALIGN + start;
  if (e == E - 1u) { end = params.rows; }
  for (; row < end; row++) { row_slot[row] = NO_SLOT; }
}
