// M = L^-1 for the lower Cholesky factor L [F, Cp, Cp] (cholesky_panel/update.wgsl), by block rows: dispatch i
// computes block row i of M from the rows above it (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
// sec. 14.2, the block "row" variant):
//   M[i, i] = L[i, i]^-1;   M[i, k] = -L[i, i]^-1 sum_{j=k}^{i-1} L[i, j] M[j, k]   for k < i.
// One workgroup per block (i, k), k <= i, and matrix f; the 32x32 solve is column-parallel forward substitution.
// Blocks above the diagonal are never written (M is lower triangular; readers only look at the lower part).

struct Params {
  padded: u32, // Cp
  step: u32,   // i: the block row being computed
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> factor: array<f32>;          // L [F, Cp, Cp], lower triangle
@group(0) @binding(2) var<storage, read_write> inverse: array<f32>;   // M [F, Cp, Cp], lower triangle

const TILE: u32 = 32u;
var<workgroup> pivot_block: array<f32, 1024>; // L[i, i]
var<workgroup> left: array<f32, 1024>;        // L[i, j], then the right-hand side and the solution
var<workgroup> right: array<f32, 1024>;       // M[j, k]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let Cp = params.padded;
  let i = params.step;
  let k = wid.x;
  let base = wid.y * Cp * Cp;
  for (var e = lid; e < TILE * TILE; e += 256u) {
    pivot_block[e] = factor[base + (i * TILE + e / TILE) * Cp + i * TILE + e % TILE];
  }
  // Right-hand side: -sum_j L[i, j] M[j, k] (4 elements per invocation), or the identity when k = i.
  var rhs = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var j = k; j < i; j++) {
    workgroupBarrier();
    for (var e = lid; e < TILE * TILE; e += 256u) {
      left[e] = factor[base + (i * TILE + e / TILE) * Cp + j * TILE + e % TILE];
      right[e] = inverse[base + (j * TILE + e / TILE) * Cp + k * TILE + e % TILE];
    }
    workgroupBarrier();
    for (var m = 0u; m < 4u; m++) {
      let e = lid + 256u * m;
      let r = e / TILE;
      let s = e % TILE;
      var sum = 0.0;
      for (var q = 0u; q < TILE; q++) {
        sum += left[r * TILE + q] * right[q * TILE + s];
      }
      rhs[m] -= sum;
    }
  }
  workgroupBarrier();
  for (var m = 0u; m < 4u; m++) {
    let e = lid + 256u * m;
    left[e] = select(rhs[m], select(0.0, 1.0, e / TILE == e % TILE), k == i);
  }
  workgroupBarrier();
  if (lid < TILE) {
    let s = lid;
    for (var r = 0u; r < TILE; r++) {
      var x = left[r * TILE + s];
      for (var p = 0u; p < r; p++) {
        x -= pivot_block[r * TILE + p] * left[p * TILE + s];
      }
      left[r * TILE + s] = x / pivot_block[r * TILE + r];
    }
  }
  workgroupBarrier();
  for (var e = lid; e < TILE * TILE; e += 256u) {
    inverse[base + (i * TILE + e / TILE) * Cp + k * TILE + e % TILE] = left[e];
  }
}
