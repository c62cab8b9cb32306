// SparseGPT (Frantar & Alistarh 2023, Algorithm 1, and the reference code's `fasterprune` prologue), step 1 of the
// inverse-Hessian factor: from the raw calibration sums S = sum_t x_t x_t^T [F, C, C] (one per factor f, e.g. per
// expert) form H = scale_f * S with scale_f = 2 / n_f (SparseGPT's add_batch scaling), then
//   dead inputs (H_jj = 0): H_jj = 1 and the column is flagged, so the weights of that input are zeroed;
//   dampening: H += damp * mean(diag H) * I.
// A factor with no calibration tokens (scale_f = 0) gets H = I (then dampened): SparseGPT without a Hessian is
// block-wise magnitude pruning, which beats zeroing an expert the calibration set never reached (docs/sparsegpt.md).
//
// The output is H reversed, H'[a, b] = H[C-1-a, C-1-b], padded to Cp (a multiple of 32) with the identity: the
// upper Cholesky factor U of H^-1 (what the column loop needs) is J (chol(J H J))^-1 J with J the reversal, so one
// Cholesky and one triangular inverse of H' replace the reference code's cholesky -> cholesky_inverse -> cholesky
// (same matrix in exact arithmetic; derivation in docs/sparsegpt.md).
//
// One workgroup per (32-row block of H', factor). Every workgroup sums the diagonal itself, in the same fixed
// order, so all of them add the same dampening without another dispatch or a float atomic.

struct Params {
  cols: u32,          // C
  padded: u32,        // Cp = ceil(C / 32) * 32
  damp: f32,          // fraction of the mean diagonal added to it (0.01 in the paper)
  hessian_base: u32,  // element offset of S[0] in `hessian`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> hessian: array<f32>;        // S [F, C, C]
@group(0) @binding(2) var<storage, read> scales: array<f32>;         // [F]: 2 / n_f, or 0 when n_f = 0
@group(0) @binding(3) var<storage, read_write> reversed: array<f32>; // H' [F, Cp, Cp]
@group(0) @binding(4) var<storage, read_write> dead: array<u32>;     // [F, C]: 1 where H_jj = 0

const ROWS: u32 = 32u;
var<workgroup> partial: array<f32, 256>;

// H_jj after the scale and the dead-input rule, before dampening.
fn diagonal(f: u32, j: u32, scale: f32) -> f32 {
  if (scale == 0.0) {
    return 1.0;
  }
  let h = scale * hessian[params.hessian_base + (f * params.cols + j) * params.cols + j];
  return select(h, 1.0, h == 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let f = wid.y;
  let C = params.cols;
  let Cp = params.padded;
  let scale = scales[f];
  var sum = 0.0;
  for (var j = lid; j < C; j += 256u) {
    sum += diagonal(f, j, scale);
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half /= 2u) {
    if (lid < half) {
      partial[lid] += partial[lid + half];
    }
    workgroupBarrier();
  }
  let dampening = params.damp * (partial[0] / f32(C));

  let first_row = wid.x * ROWS;
  for (var index = lid; index < ROWS * Cp; index += 256u) {
    let a = first_row + index / Cp;
    let b = index % Cp;
    var value = select(0.0, 1.0, a == b);
    if (a < C && b < C) {
      let i = C - 1u - a;
      let j = C - 1u - b;
      if (i == j) {
        value = diagonal(f, i, scale) + dampening;
      } else if (scale != 0.0) {
        value = scale * hessian[params.hessian_base + (f * C + i) * C + j];
      } else {
        value = 0.0;
      }
    }
    reversed[(f * Cp + a) * Cp + b] = value;
  }
  if (lid < ROWS && first_row + lid < C) {
    let i = C - 1u - (first_row + lid);
    let h = scale * hessian[params.hessian_base + (f * C + i) * C + i];
    dead[f * C + i] = select(0u, 1u, scale != 0.0 && h == 0.0);
  }
}
