// One f32 matrix product for every matmul of training: C[z] = alpha * A[z] . B[z] (+ C[z] when ACCUMULATE).
// Every operand is addressed through strides, so the same kernel does y = x W^T (forward), dx = dy W and
// dW = dy^T x (backward), and the batched attention products straight out of the [T, 3H] q|k|v buffer with no
// copies: A(m, k) = a[a_offset + batch + m * a_row + k * a_col], B(k, n) = b[... k * b_row + n * b_col],
// C(m, n) = c[... m * c_row + n * c_col]. The batch index z = outer * batch_inner + inner adds
// outer * x_outer + inner * x_inner to each offset (windows x heads for attention).
//
// Shape of the work (measured on lavapipe, see docs/training.md; it suits GPUs with subgroups too): a workgroup
// of LANES invocations computes an 8-row x 2 LANES-column tile, each invocation 8 rows x 2 columns (n0 + lane,
// n0 + lane + LANES) in registers. B is read by each invocation for its own columns (neighbouring invocations read
// neighbouring words when B is n-contiguous, the layout every caller arranges); A is read 8 x 8 at a time, one
// word per invocation along the contiguous direction, and handed to every invocation with subgroupBroadcast,
// which on a CPU driver costs far less than the workgroup-memory tiles and barriers a GPU kernel would use.
// main_k serves A contiguous along k (x, dy, P, dS); main_m A contiguous along m (dy^T, P^T, dS^T).
// Each output element is one sequential sum over k in increasing order: deterministic.
//
// GROUP_MODE (mixture-of-experts, experts' rows concatenated and each expert's segment padded to a multiple of 8
// rows, see moe_dispatch.wgsl; `groups` holds [E] padded segment starts then [E] row counts):
//   0: plain (batch from workgroup z);
//   1: grouped rows: the 8-row tile (workgroup x) lies in one expert's segment; rows past its count are skipped;
//      the expert index e adds e * b_outer to B (its weight matrix). Forward and dx of the experts.
//   2: grouped reduction: workgroup z = expert e, k runs over its rows only; e * c_outer is added to C. dW of the
//      experts (sum over the tokens routed to e).
// CAUSAL (attention, square M = N = K = window S; the row kernels keep entries above the diagonal at 0):
//   0: full; 1: skip output tiles wholly above the diagonal (scores q k^T, dP = dO v^T: those entries are never
//   read); 2: k <= m only (P v, dS k); 3: k >= m only (P^T dO, dS^T q).
enable subgroups;
// Control flow is uniform per workgroup in practice (every branch depends on the workgroup id, params and the
// expert table only); WGSL's analysis cannot see that through storage reads.
diagnostic(off, subgroup_uniformity);

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch_inner: u32,
  a_offset: u32,
  a_row: u32,
  a_col: u32,
  a_outer: u32,
  a_inner: u32,
  b_offset: u32,
  b_row: u32,
  b_col: u32,
  b_outer: u32,
  b_inner: u32,
  c_offset: u32,
  c_row: u32,
  c_col: u32,
  c_outer: u32,
  c_inner: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> groups: array<u32>; // [2E] padded starts, counts (GROUP_MODE > 0)

override ACCUMULATE: bool = false;
override GROUP_MODE: u32 = 0u;
override CAUSAL: u32 = 0u;
override NUM_GROUPS: u32 = 1u;

// Invocations per workgroup (a multiple of 8): the tile is 8 rows x 2 LANES columns. Narrow for narrow outputs
// (attention's head size), so that few columns are computed only to be thrown away.
override LANES: u32 = 64u;
const ROWS: u32 = 8u;

// The tile this workgroup computes and the k range it sums over.
struct Tile {
  valid: bool,
  m0: u32,
  m_end: u32,
  k_begin: u32,
  k_end: u32,
  a_base: u32,
  b_base: u32,
  c_base: u32,
}

var<private> tile: Tile;
var<private> b_col0: u32; // column offsets of this invocation's two columns in B (clamped into range)
var<private> b_col1: u32;
var<private> acc_lo0: vec4f; // rows m0 + 0..3, column n0 + lane
var<private> acc_hi0: vec4f; // rows m0 + 4..7, column n0 + lane
var<private> acc_lo1: vec4f; // rows m0 + 0..3, column n0 + lane + LANES
var<private> acc_hi1: vec4f; // rows m0 + 4..7, column n0 + lane + LANES

fn locate_tile(wid: vec3u) -> Tile {
  var t: Tile;
  t.valid = true;
  t.m0 = wid.x * ROWS;
  t.m_end = params.M;
  t.k_begin = 0u;
  t.k_end = params.K;
  t.a_base = params.a_offset;
  t.b_base = params.b_offset;
  t.c_base = params.c_offset;
  if (GROUP_MODE == 0u) {
    let outer = wid.z / params.batch_inner;
    let inner = wid.z % params.batch_inner;
    t.a_base += outer * params.a_outer + inner * params.a_inner;
    t.b_base += outer * params.b_outer + inner * params.b_inner;
    t.c_base += outer * params.c_outer + inner * params.c_inner;
  } else if (GROUP_MODE == 1u) {
    // The expert whose padded segment holds this tile (segments are 8-aligned, so exactly one or none).
    var expert = NUM_GROUPS;
    for (var e = 0u; e < NUM_GROUPS; e++) {
      let start = groups[e];
      let padded = (groups[NUM_GROUPS + e] + ROWS - 1u) / ROWS * ROWS;
      if (t.m0 >= start && t.m0 < start + padded) { expert = e; }
    }
    if (expert == NUM_GROUPS) {
      t.valid = false;
      return t;
    }
    t.m_end = groups[expert] + groups[NUM_GROUPS + expert];
    t.b_base += expert * params.b_outer;
  } else {
    let expert = wid.z;
    t.k_begin = groups[expert];
    t.k_end = t.k_begin + groups[NUM_GROUPS + expert];
    t.c_base += expert * params.c_outer;
  }
  let n0 = wid.y * 2u * LANES;
  if (CAUSAL == 1u && n0 > t.m0 + ROWS - 1u) { t.valid = false; }
  if (CAUSAL == 2u) { t.k_end = min(t.k_end, t.m0 + ROWS); }
  if (CAUSAL == 3u) { t.k_begin = max(t.k_begin, t.m0); }
  return t;
}

// A(m, k), or 0 outside the tile's rows or k range (so that B, read at a clamped index, never matters there).
fn load_a(m: u32, k: u32) -> f32 {
  let inside = m < tile.m_end && k >= tile.k_begin && k < tile.k_end;
  let mc = min(m, max(tile.m_end, 1u) - 1u);
  let kc = min(k, max(tile.k_end, 1u) - 1u);
  return select(0.0, a[tile.a_base + mc * params.a_row + kc * params.a_col], inside);
}

// One k step: rows = A(m0 + 0..7, k) already in every invocation, times this invocation's two B columns.
fn accumulate(rows_lo: vec4f, rows_hi: vec4f, k: u32) {
  let kc = min(k, max(tile.k_end, 1u) - 1u);
  let row = tile.b_base + kc * params.b_row;
  let b0 = b[row + b_col0];
  let b1 = b[row + b_col1];
  acc_lo0 += rows_lo * b0;
  acc_hi0 += rows_hi * b0;
  acc_lo1 += rows_lo * b1;
  acc_hi1 += rows_hi * b1;
}

fn begin(wid: vec3u, lid: u32) -> bool {
  tile = locate_tile(wid);
  let n0 = wid.y * 2u * LANES + lid;
  let last = params.N - 1u;
  b_col0 = min(n0, last) * params.b_col;
  b_col1 = min(n0 + LANES, last) * params.b_col;
  return tile.valid;
}

fn store_one(at: u32, value: f32) {
  if (ACCUMULATE) {
    c[at] += params.alpha * value;
  } else {
    c[at] = params.alpha * value;
  }
}

fn store(wid: vec3u, lid: u32) {
  let n = wid.y * 2u * LANES + lid;
  for (var i = 0u; i < ROWS; i++) {
    let m = tile.m0 + i;
    if (m >= tile.m_end) { break; }
    let at = tile.c_base + m * params.c_row;
    let v0 = select(acc_lo0[i % 4u], acc_hi0[i % 4u], i >= 4u);
    let v1 = select(acc_lo1[i % 4u], acc_hi1[i % 4u], i >= 4u);
    if (n < params.N) { store_one(at + n * params.c_col, v0); }
    if (n + LANES < params.N) { store_one(at + (n + LANES) * params.c_col, v1); }
  }
}

// A contiguous along k: invocation `lane` holds A(m0 + r, k0 + lane) in a_r; row r at step kk is lane kk's a_r.
@compute @workgroup_size(LANES)
fn main_k(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
          @builtin(subgroup_invocation_id) sg_lane: u32) {
  if (!begin(wid, lid)) { return; }
  let lane = sg_lane % 8u;
  let m0 = tile.m0;
  for (var k0 = tile.k_begin; k0 < tile.k_end; k0 += 8u) {
    let k = k0 + lane;
    let a0 = load_a(m0, k);
    let a1 = load_a(m0 + 1u, k);
    let a2 = load_a(m0 + 2u, k);
    let a3 = load_a(m0 + 3u, k);
    let a4 = load_a(m0 + 4u, k);
    let a5 = load_a(m0 + 5u, k);
    let a6 = load_a(m0 + 6u, k);
    let a7 = load_a(m0 + 7u, k);
    accumulate(vec4f(subgroupBroadcast(a0, 0u), subgroupBroadcast(a1, 0u), subgroupBroadcast(a2, 0u), subgroupBroadcast(a3, 0u)),
               vec4f(subgroupBroadcast(a4, 0u), subgroupBroadcast(a5, 0u), subgroupBroadcast(a6, 0u), subgroupBroadcast(a7, 0u)), k0);
    accumulate(vec4f(subgroupBroadcast(a0, 1u), subgroupBroadcast(a1, 1u), subgroupBroadcast(a2, 1u), subgroupBroadcast(a3, 1u)),
               vec4f(subgroupBroadcast(a4, 1u), subgroupBroadcast(a5, 1u), subgroupBroadcast(a6, 1u), subgroupBroadcast(a7, 1u)), k0 + 1u);
    accumulate(vec4f(subgroupBroadcast(a0, 2u), subgroupBroadcast(a1, 2u), subgroupBroadcast(a2, 2u), subgroupBroadcast(a3, 2u)),
               vec4f(subgroupBroadcast(a4, 2u), subgroupBroadcast(a5, 2u), subgroupBroadcast(a6, 2u), subgroupBroadcast(a7, 2u)), k0 + 2u);
    accumulate(vec4f(subgroupBroadcast(a0, 3u), subgroupBroadcast(a1, 3u), subgroupBroadcast(a2, 3u), subgroupBroadcast(a3, 3u)),
               vec4f(subgroupBroadcast(a4, 3u), subgroupBroadcast(a5, 3u), subgroupBroadcast(a6, 3u), subgroupBroadcast(a7, 3u)), k0 + 3u);
    accumulate(vec4f(subgroupBroadcast(a0, 4u), subgroupBroadcast(a1, 4u), subgroupBroadcast(a2, 4u), subgroupBroadcast(a3, 4u)),
               vec4f(subgroupBroadcast(a4, 4u), subgroupBroadcast(a5, 4u), subgroupBroadcast(a6, 4u), subgroupBroadcast(a7, 4u)), k0 + 4u);
    accumulate(vec4f(subgroupBroadcast(a0, 5u), subgroupBroadcast(a1, 5u), subgroupBroadcast(a2, 5u), subgroupBroadcast(a3, 5u)),
               vec4f(subgroupBroadcast(a4, 5u), subgroupBroadcast(a5, 5u), subgroupBroadcast(a6, 5u), subgroupBroadcast(a7, 5u)), k0 + 5u);
    accumulate(vec4f(subgroupBroadcast(a0, 6u), subgroupBroadcast(a1, 6u), subgroupBroadcast(a2, 6u), subgroupBroadcast(a3, 6u)),
               vec4f(subgroupBroadcast(a4, 6u), subgroupBroadcast(a5, 6u), subgroupBroadcast(a6, 6u), subgroupBroadcast(a7, 6u)), k0 + 6u);
    accumulate(vec4f(subgroupBroadcast(a0, 7u), subgroupBroadcast(a1, 7u), subgroupBroadcast(a2, 7u), subgroupBroadcast(a3, 7u)),
               vec4f(subgroupBroadcast(a4, 7u), subgroupBroadcast(a5, 7u), subgroupBroadcast(a6, 7u), subgroupBroadcast(a7, 7u)), k0 + 7u);
  }
  store(wid, lid);
}

// A contiguous along m: invocation `lane` holds A(m0 + lane, k0 + r) in a_r; row i at step r is lane i's a_r.
@compute @workgroup_size(LANES)
fn main_m(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
          @builtin(subgroup_invocation_id) sg_lane: u32) {
  if (!begin(wid, lid)) { return; }
  let lane = sg_lane % 8u;
  let m = tile.m0 + lane;
  for (var k0 = tile.k_begin; k0 < tile.k_end; k0 += 8u) {
    let a0 = load_a(m, k0);
    let a1 = load_a(m, k0 + 1u);
    let a2 = load_a(m, k0 + 2u);
    let a3 = load_a(m, k0 + 3u);
    let a4 = load_a(m, k0 + 4u);
    let a5 = load_a(m, k0 + 5u);
    let a6 = load_a(m, k0 + 6u);
    let a7 = load_a(m, k0 + 7u);
    accumulate(vec4f(subgroupBroadcast(a0, 0u), subgroupBroadcast(a0, 1u), subgroupBroadcast(a0, 2u), subgroupBroadcast(a0, 3u)),
               vec4f(subgroupBroadcast(a0, 4u), subgroupBroadcast(a0, 5u), subgroupBroadcast(a0, 6u), subgroupBroadcast(a0, 7u)), k0);
    accumulate(vec4f(subgroupBroadcast(a1, 0u), subgroupBroadcast(a1, 1u), subgroupBroadcast(a1, 2u), subgroupBroadcast(a1, 3u)),
               vec4f(subgroupBroadcast(a1, 4u), subgroupBroadcast(a1, 5u), subgroupBroadcast(a1, 6u), subgroupBroadcast(a1, 7u)), k0 + 1u);
    accumulate(vec4f(subgroupBroadcast(a2, 0u), subgroupBroadcast(a2, 1u), subgroupBroadcast(a2, 2u), subgroupBroadcast(a2, 3u)),
               vec4f(subgroupBroadcast(a2, 4u), subgroupBroadcast(a2, 5u), subgroupBroadcast(a2, 6u), subgroupBroadcast(a2, 7u)), k0 + 2u);
    accumulate(vec4f(subgroupBroadcast(a3, 0u), subgroupBroadcast(a3, 1u), subgroupBroadcast(a3, 2u), subgroupBroadcast(a3, 3u)),
               vec4f(subgroupBroadcast(a3, 4u), subgroupBroadcast(a3, 5u), subgroupBroadcast(a3, 6u), subgroupBroadcast(a3, 7u)), k0 + 3u);
    accumulate(vec4f(subgroupBroadcast(a4, 0u), subgroupBroadcast(a4, 1u), subgroupBroadcast(a4, 2u), subgroupBroadcast(a4, 3u)),
               vec4f(subgroupBroadcast(a4, 4u), subgroupBroadcast(a4, 5u), subgroupBroadcast(a4, 6u), subgroupBroadcast(a4, 7u)), k0 + 4u);
    accumulate(vec4f(subgroupBroadcast(a5, 0u), subgroupBroadcast(a5, 1u), subgroupBroadcast(a5, 2u), subgroupBroadcast(a5, 3u)),
               vec4f(subgroupBroadcast(a5, 4u), subgroupBroadcast(a5, 5u), subgroupBroadcast(a5, 6u), subgroupBroadcast(a5, 7u)), k0 + 5u);
    accumulate(vec4f(subgroupBroadcast(a6, 0u), subgroupBroadcast(a6, 1u), subgroupBroadcast(a6, 2u), subgroupBroadcast(a6, 3u)),
               vec4f(subgroupBroadcast(a6, 4u), subgroupBroadcast(a6, 5u), subgroupBroadcast(a6, 6u), subgroupBroadcast(a6, 7u)), k0 + 6u);
    accumulate(vec4f(subgroupBroadcast(a7, 0u), subgroupBroadcast(a7, 1u), subgroupBroadcast(a7, 2u), subgroupBroadcast(a7, 3u)),
               vec4f(subgroupBroadcast(a7, 4u), subgroupBroadcast(a7, 5u), subgroupBroadcast(a7, 6u), subgroupBroadcast(a7, 7u)), k0 + 7u);
  }
  store(wid, lid);
}
