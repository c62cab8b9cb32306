// Blocked right-looking Cholesky, step k, part 3 of 3: the trailing update (a SYRK): A[i, j] -= L[i, k] L[j, k]^T for the blocks
// k < j <= i of the lower triangle, after cholesky_panel.wgsl solved block column k. One workgroup per block
// (i, j) and matrix f; workgroups above the diagonal exit at once. Each element is written by one invocation,
// summed in a fixed order: the factor is the same run to run.

struct Params {
  padded: u32, // Cp
  step: u32,   // k
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>; // [F, Cp, Cp]

const TILE: u32 = 32u;
var<workgroup> left: array<f32, 1024>;  // L[i, k]
var<workgroup> right: array<f32, 1024>; // L[j, k]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let Cp = params.padded;
  let k = params.step;
  let i = k + 1u + wid.x;
  let j = k + 1u + wid.y;
  if (j > i) {
    return;
  }
  let base = wid.z * Cp * Cp;
  for (var e = lid; e < TILE * TILE; e += 256u) {
    left[e] = a[base + (i * TILE + e / TILE) * Cp + k * TILE + e % TILE];
    right[e] = a[base + (j * TILE + e / TILE) * Cp + k * TILE + e % TILE];
  }
  workgroupBarrier();
  for (var e = lid; e < TILE * TILE; e += 256u) {
    let r = e / TILE;
    let s = e % TILE;
    var sum = 0.0;
    for (var q = 0u; q < TILE; q++) {
      sum += left[r * TILE + q] * right[s * TILE + q];
    }
    a[base + (i * TILE + r) * Cp + j * TILE + s] -= sum;
  }
}
