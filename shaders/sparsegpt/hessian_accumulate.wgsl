// SparseGPT's Hessian sums during calibration (Frantar & Alistarh 2023; the reference code's add_batch without
// its 2/n, which hessian_prepare.wgsl applies once the token count is known): per segment s (one expert's gathered
// rows, or all tokens for a shared expert), S[s] += sum over its rows r of x_r x_r^T, x_r = rows[source(r)] with
//   source(r) = row_slot[r] / top_k when FROM_TOKENS (the MoE input [T, H] read through the forward's sorted_rows,
//               like stats/column_sqnorm.wgsl), else r (rows already in gathered order, e.g. act(gate) * up).
// A tiled X^T X: one workgroup per 32 x 32 tile of S (upper tiles only; each also writes its mirror, so S is
// exactly symmetric) and segment; 32 rows at a time through workgroup memory, 2 x 2 outputs per invocation.
// Deterministic: every total is owned by one invocation, rows are added in order, in blocks of BLOCK_ROWS whose
// sums are then added (two-level summation: f32 error grows with BLOCK_ROWS + rows / BLOCK_ROWS, not the row count).

struct Params {
  width: u32,          // C
  row_stride: u32,     // elements between rows of `rows`
  top_k: u32,          // K (FROM_TOKENS)
  first_segment: u32,  // segment of S[0]: offsets[first_segment + s] bounds segment s of this dispatch
  total_base: u32,     // element of S[0][0, 0] in `totals`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rows: array<f32>;          // [*, row_stride]
@group(0) @binding(2) var<storage, read> row_slot: array<u32>;      // [R] (FROM_TOKENS)
@group(0) @binding(3) var<storage, read> offsets: array<u32>;       // [segments + 1]
@group(0) @binding(4) var<storage, read_write> totals: array<f32>;  // S [segments, C, C] running totals

override FROM_TOKENS: bool = true;

const TILE: u32 = 32u;
const CHUNK: u32 = 32u;       // rows per pass through workgroup memory
const BLOCK_ROWS: u32 = 256u; // rows per first-level sum
var<workgroup> left: array<f32, 1024>;  // [CHUNK, TILE] columns of the tile's rows
var<workgroup> right: array<f32, 1024>; // [CHUNK, TILE] columns of the tile's columns

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ti = wid.x;
  let tj = wid.y;
  if (ti > tj) {
    return;
  }
  let C = params.width;
  let segment = wid.z;
  let first = offsets[params.first_segment + segment];
  let end = offsets[params.first_segment + segment + 1u];
  let tx = lid % 16u;
  let ty = lid / 16u;
  var total = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  var block = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  var in_block = 0u;
  for (var r0 = first; r0 < end; r0 += CHUNK) {
    for (var e = lid; e < CHUNK * TILE; e += 256u) {
      let r = r0 + e / TILE;
      var a = 0.0;
      var b = 0.0;
      if (r < end) {
        var source = r;
        if (FROM_TOKENS) {
          source = row_slot[r] / params.top_k;
        }
        let i = ti * TILE + e % TILE;
        let j = tj * TILE + e % TILE;
        if (i < C) { a = rows[source * params.row_stride + i]; }
        if (j < C) { b = rows[source * params.row_stride + j]; }
      }
      left[e] = a;
      right[e] = b;
    }
    workgroupBarrier();
    for (var q = 0u; q < CHUNK; q++) {
      for (var m = 0u; m < 2u; m++) {
        let a = left[q * TILE + ty * 2u + m];
        for (var n = 0u; n < 2u; n++) {
          block[m * 2u + n] += a * right[q * TILE + tx * 2u + n];
        }
      }
    }
    workgroupBarrier();
    in_block += CHUNK;
    if (in_block == BLOCK_ROWS) {
      for (var m = 0u; m < 4u; m++) {
        total[m] += block[m];
        block[m] = 0.0;
      }
      in_block = 0u;
    }
  }
  let base = params.total_base + segment * C * C;
  for (var m = 0u; m < 2u; m++) {
    let i = ti * TILE + ty * 2u + m;
    for (var n = 0u; n < 2u; n++) {
      let j = tj * TILE + tx * 2u + n;
      if (i < C && j < C) {
        let sum = total[m * 2u + n] + block[m * 2u + n];
        totals[base + i * C + j] += sum;
        if (ti != tj) {
          totals[base + j * C + i] += sum;
        }
      }
    }
  }
}
