// SparseGPT working copy: Z matrices W [R, C] (matrix z at element weight_base + z * R * C of the packed weights)
// decoded to f32 in `work` [Z, R, C], with the columns of dead inputs (H_jj = 0, hessian_prepare.wgsl) zeroed as
// the reference code does (W[:, dead] = 0). Also clears the keep-mask bits of these Z * R * C elements (from
// element mask_base of `mask`): the selection kernels OR kept bits in. Bits of neighbouring matrices that share a
// boundary word are left alone. Include weights.wgsl.

struct Params {
  rows: u32,          // R
  cols: u32,          // C
  count: u32,         // Z * R * C
  weight_base: u32,   // element of W[0, 0, 0] in `weights`
  first_matrix: u32,  // global index of matrix 0 of this chunk (its factor is first_matrix / share)
  share: u32,         // matrices per factor
  mask_base: u32,     // element of W[0, 0, 0] in `mask`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;            // packed, WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> dead: array<u32>;               // [F, C]
@group(0) @binding(3) var<storage, read_write> work: array<f32>;         // [Z, R, C]
@group(0) @binding(4) var<storage, read_write> mask: array<atomic<u32>>; // keep bitset

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let index = (wid.x + wid.y * nwg.x) * 256u + lid;
  let matrix_elements = params.rows * params.cols;
  if (index < params.count) {
    let z = params.first_matrix + index / matrix_elements;
    let column = index % params.cols;
    let i = params.weight_base + index;
    var value = decode_weight(weights[weight_word(i)], i);
    if (dead[(z / params.share) * params.cols + column] != 0u) {
      value = 0.0;
    }
    work[index] = value;
  }
  // Word `first + index` of the mask, restricted to this chunk's elements.
  let first = params.mask_base >> 5u;
  let last = (params.mask_base + params.count - 1u) >> 5u;
  let word = first + index;
  if (word <= last) {
    let lo = max(word * 32u, params.mask_base) - word * 32u;
    let hi = min(word * 32u + 32u, params.mask_base + params.count) - word * 32u;
    let below_hi = select((1u << hi) - 1u, 0xffffffffu, hi >= 32u);
    let bits = below_hi & ~((1u << lo) - 1u);
    atomicAnd(&mask[word], ~bits);
  }
}
