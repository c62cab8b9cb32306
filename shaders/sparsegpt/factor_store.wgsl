// Last step of the inverse-Hessian factor: U = J M J restricted to the real C x C, where M = L^-1 of the reversed,
// padded H' (hessian_prepare.wgsl). U is upper triangular with H^-1 = U^T U: the upper Cholesky factor of H^-1
// that SparseGPT's column loop reads (row i of U: the OBS update of the columns after i; U_ii: the error scale).

struct Params {
  cols: u32,   // C
  padded: u32, // Cp
  count: u32,  // C * C
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inverse: array<f32>;      // M [F, Cp, Cp], lower triangle
@group(0) @binding(2) var<storage, read_write> factor: array<f32>; // U [F, C, C]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let index = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (index >= params.count) {
    return;
  }
  let C = params.cols;
  let Cp = params.padded;
  let f = wid.z;
  let i = index / C;
  let j = index % C;
  var value = 0.0;
  if (i <= j) {
    value = inverse[(f * Cp + (C - 1u - i)) * Cp + (C - 1u - j)];
  }
  factor[f * params.count + index] = value;
}
