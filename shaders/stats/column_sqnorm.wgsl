// Column sums of squares over row segments, added to running totals (calibration statistics, ARCHITECTURE.md):
//   sqnorm[s, j]       += sum over rows r of segment s of x[r, j]^2
//   sqnorm_gated[s, j] += sum over the same rows of (g_r * x[r, j])^2          (GATED; MoE-Pruner, Xie et al. 2024)
// A segment is one expert's gathered rows (offsets[e] .. offsets[e+1], the forward's dispatch order) or, with one
// segment [0, T), every token (attention inputs, shared expert). How row r is found:
//   slot   = row_slot[r] when GATHERED (the forward's sorted_rows: assignment t * K + k), else r;
//   source = slot / top_k when FROM_TOKENS (read the token's row of the MoE input [T, H]), else r (rows already
//            in gathered order, e.g. the intermediate act(gate(x)) * up(x) [R, I]);
//   x[r, j] = rows[source * row_stride + column_offset + j];  g_r = gates[slot], or sigmoid(gates[slot]) when
//   GATE_SIGMOID (Qwen2-MoE's shared-expert gate logit).
// Both [S, W] totals live in one buffer (`totals`, at element offsets plain_at and gated_at): WebGPU forbids
// binding overlapping ranges of one buffer twice for writing, and one binding serves gated and ungated uses.
//
// Deterministic, no float atomics: one workgroup per (column block, segment); its row lanes take rows
// lane, lane + lanes, ... in a fixed order, sum them in blocks of BLOCK rows (two-level summation: the f32 error
// grows with BLOCK + rows / BLOCK rather than with the row count), then a fixed tree adds the lanes and lane 0
// adds the batch's sum to the running total. Each total is written by exactly one invocation.

struct Params {
  width: u32,         // W: columns of a segment's statistic
  row_stride: u32,    // elements between consecutive rows of `rows` (>= column_offset + W)
  column_offset: u32, // first column read from each row
  top_k: u32,         // K (FROM_TOKENS)
  plain_at: u32,      // element offset of sqnorm [S, W] in totals
  gated_at: u32,      // element offset of sqnorm_gated [S, W] in totals (GATED)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rows: array<f32>;         // [*, row_stride]
@group(0) @binding(2) var<storage, read> row_slot: array<u32>;     // [R] (GATHERED)
@group(0) @binding(3) var<storage, read> gates: array<f32>;        // [T * K] or [T] (GATED)
@group(0) @binding(4) var<storage, read> offsets: array<u32>;      // [S + 1]
@group(0) @binding(5) var<storage, read_write> totals: array<f32>; // sqnorm, sqnorm_gated: running totals

override GATHERED: bool = true;
override FROM_TOKENS: bool = true;
override GATED: bool = true;
override GATE_SIGMOID: bool = false;
// Columns per workgroup (a power of two, 32 or 64); 256 / COLUMNS row lanes sum each column.
override COLUMNS: u32 = 64u;

// Consecutive columns per invocation: each row's slot and gate are read once for SPAN columns (a CPU driver runs
// every storage load lane by lane; per column this kernel read three values per element). The row lanes are those
// of 256 invocations of one column each, so every column's sum is the same sequence of additions as with one.
const SPAN: u32 = 4u;
const WORKGROUP: u32 = 64u; // 256 / SPAN
const BLOCK: u32 = 64u;

var<workgroup> plain_part: array<vec4f, WORKGROUP>;
var<workgroup> gated_part: array<vec4f, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let column_lanes = COLUMNS / SPAN;
  let row_lanes = WORKGROUP / column_lanes;
  let column = wid.x * COLUMNS + (lid % column_lanes) * SPAN; // the first of this invocation's SPAN columns
  let lane = lid / column_lanes;
  let segment = wid.y;
  let end = offsets[segment + 1u];
  let last = params.width - 1u;
  var plain = vec4f(0.0);
  var gated = vec4f(0.0);
  if (column < params.width) {
    var r = offsets[segment] + lane;
    while (r < end) {
      var block_plain = vec4f(0.0);
      var block_gated = vec4f(0.0);
      for (var n = 0u; n < BLOCK && r < end; n++) {
        var slot = r;
        if (GATHERED) { slot = row_slot[r]; }
        var source = r;
        if (FROM_TOKENS) { source = slot / params.top_k; }
        // Columns past the width (W not a multiple of SPAN) read the last one again and are never written.
        let base = source * params.row_stride + params.column_offset;
        let v = vec4f(rows[base + min(column, last)], rows[base + min(column + 1u, last)],
                      rows[base + min(column + 2u, last)], rows[base + min(column + 3u, last)]);
        let square = v * v;
        block_plain += square;
        if (GATED) {
          var g = gates[slot];
          if (GATE_SIGMOID) { g = 1.0 / (1.0 + exp(-g)); }
          block_gated += (g * g) * square;
        }
        r += row_lanes;
      }
      plain += block_plain;
      gated += block_gated;
    }
  }
  plain_part[lid] = plain;
  gated_part[lid] = gated;
  workgroupBarrier();
  for (var half = row_lanes / 2u; half > 0u; half /= 2u) {
    if (lane < half) {
      plain_part[lid] += plain_part[lid + half * column_lanes];
      gated_part[lid] += gated_part[lid + half * column_lanes];
    }
    workgroupBarrier();
  }
  if (lane == 0u) {
    for (var c = 0u; c < SPAN; c++) {
      if (column + c >= params.width) { break; }
      let at = segment * params.width + column + c;
      totals[params.plain_at + at] += plain_part[lid][c];
      if (GATED) { totals[params.gated_at + at] += gated_part[lid][c]; }
    }
  }
}
