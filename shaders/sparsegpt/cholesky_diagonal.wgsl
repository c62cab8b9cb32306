// Blocked right-looking Cholesky A = L L^T (Golub & Van Loan, Matrix Computations, 4th ed., Alg. 4.2.2), step k,
// part 1 of 3: factor the 32x32 diagonal block A[k, k] = L[k, k] L[k, k]^T in workgroup memory, in place (its
// upper triangle becomes 0). One workgroup per matrix f. Its own dispatch: the panel solve (cholesky_panel.wgsl)
// of every block below reads L[k, k], and a workgroup cannot wait for another one inside a dispatch.
// A pivot <= 0 (H not positive definite even after dampening) records 1 + its index in `status` and continues with
// pivot 1 so nothing turns NaN; the host turns the status into an error.

struct Params {
  padded: u32, // Cp: the matrices are [Cp, Cp], Cp a multiple of 32
  step: u32,   // k: the block column being factored
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;              // [F, Cp, Cp], factored in place
@group(0) @binding(2) var<storage, read_write> status: array<atomic<u32>>; // [F]: 0, or 1 + largest failed pivot

const TILE: u32 = 32u;
var<workgroup> diag: array<f32, 1024>; // A[k, k] -> L[k, k], row-major 32 x 32

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let Cp = params.padded;
  let k = params.step;
  let base = wid.x * Cp * Cp;
  let corner = base + k * TILE * Cp + k * TILE;
  for (var e = lid; e < TILE * TILE; e += 256u) {
    diag[e] = a[corner + (e / TILE) * Cp + e % TILE];
  }
  workgroupBarrier();
  for (var c = 0u; c < TILE; c++) {
    if (lid == 0u) {
      var pivot = diag[c * TILE + c];
      if (!(pivot > 0.0)) {
        atomicMax(&status[wid.x], k * TILE + c + 1u);
        pivot = 1.0;
      }
      diag[c * TILE + c] = sqrt(pivot);
    }
    workgroupBarrier();
    if (lid > c && lid < TILE) {
      diag[lid * TILE + c] /= diag[c * TILE + c];
    }
    workgroupBarrier();
    for (var e = lid; e < TILE * TILE; e += 256u) {
      let r = e / TILE;
      let s = e % TILE;
      if (s > c && r >= s) {
        diag[e] -= diag[r * TILE + c] * diag[s * TILE + c];
      }
    }
    workgroupBarrier();
  }
  for (var e = lid; e < TILE * TILE; e += 256u) {
    let r = e / TILE;
    let s = e % TILE;
    a[corner + r * Cp + s] = select(0.0, diag[e], s <= r);
  }
}
