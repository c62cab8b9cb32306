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
// Columns per workgroup (a power of two dividing 256); the other factor of 256 is the number of row lanes.
override COLUMNS: u32 = 64u;

const WORKGROUP: u32 = 256u;
const BLOCK: u32 = 64u;

var<workgroup> plain_part: array<f32, WORKGROUP>;
var<workgroup> gated_part: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row_lanes = WORKGROUP / COLUMNS;
  let column = wid.x * COLUMNS + lid % COLUMNS;
  let lane = lid / COLUMNS;
  let segment = wid.y;
  let end = offsets[segment + 1u];
  var plain = 0.0;
  var gated = 0.0;
  if (column < params.width) {
    var r = offsets[segment] + lane;
    while (r < end) {
      var block_plain = 0.0;
      var block_gated = 0.0;
      for (var n = 0u; n < BLOCK && r < end; n++) {
        var slot = r;
        if (GATHERED) { slot = row_slot[r]; }
        var source = r;
        if (FROM_TOKENS) { source = slot / params.top_k; }
        let v = rows[source * params.row_stride + params.column_offset + column];
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
      plain_part[lid] += plain_part[lid + half * COLUMNS];
      gated_part[lid] += gated_part[lid + half * COLUMNS];
    }
    workgroupBarrier();
  }
  if (lane == 0u && column < params.width) {
    let at = segment * params.width + column;
    totals[params.plain_at + at] += plain_part[lid];
    if (GATED) { totals[params.gated_at + at] += gated_part[lid]; }
  }
}
