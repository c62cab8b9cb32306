// Blocked right-looking Cholesky, step k, part 2 of 3: the panel solve L[i, k] = A[i, k] L[k, k]^-T for every block
// row i > k, with L[k, k] from cholesky_diagonal.wgsl. One workgroup per block (i, k) and matrix f; each row of
// the block is an independent forward substitution. The trailing update (cholesky_update.wgsl) follows.

struct Params {
  padded: u32, // Cp
  step: u32,   // k
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>; // [F, Cp, Cp]

const TILE: u32 = 32u;
var<workgroup> diag: array<f32, 1024>;  // L[k, k]
var<workgroup> panel: array<f32, 1024>; // A[i, k] -> L[i, k]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let Cp = params.padded;
  let k = params.step;
  let i = k + 1u + wid.x;
  let base = wid.y * Cp * Cp;
  for (var e = lid; e < TILE * TILE; e += 256u) {
    diag[e] = a[base + (k * TILE + e / TILE) * Cp + k * TILE + e % TILE];
    panel[e] = a[base + (i * TILE + e / TILE) * Cp + k * TILE + e % TILE];
  }
  workgroupBarrier();
  // Row r of X L[k,k]^T = A[i,k], column by column: x_rc = (a_rc - sum_{q<c} x_rq L_cq) / L_cc.
  if (lid < TILE) {
    let r = lid;
    for (var c = 0u; c < TILE; c++) {
      var x = panel[r * TILE + c];
      for (var q = 0u; q < c; q++) {
        x -= panel[r * TILE + q] * diag[c * TILE + q];
      }
      panel[r * TILE + c] = x / diag[c * TILE + c];
    }
  }
  workgroupBarrier();
  for (var e = lid; e < TILE * TILE; e += 256u) {
    a[base + (i * TILE + e / TILE) * Cp + k * TILE + e % TILE] = panel[e];
  }
}
