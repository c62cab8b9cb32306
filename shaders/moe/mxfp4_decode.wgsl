// MXFP4 expert matrices (OCP Microscaling Formats v1.0, Sec. 5; gpt-oss's `*_blocks` / `*_scales`, see
// src/engine/model/mxfp4.ts) decoded into the canonical f32 layout the expert kernels read:
//   out[e, canonical(s), c] = E2M1[code(e, s, c)] * 2^(scale(e, s, c / 32) - 127),
// blocks [E, R, C/32, 16] u8 (two codes a byte: low nibble = even column), scales [E, R, C/32] u8 (E8M0), both the
// checkpoint's bytes four to a u32 word, little-endian. INTERLEAVED (gate_up) moves stored row s of an expert with R
// rows to canonical row (s % 2) * R/2 + s / 2: gpt-oss stores gate and up rows alternately, the kernels want the
// gate rows then the up rows. One thread decodes one blocks word = 8 consecutive columns of one row (C is a multiple
// of 32, so they share a row and a scale). Exact: an E2M1 value (at most 2 significant bits) times a power of two
// is an f32 for every scale whose product stays a normal f32 (products below 2^-126 may flush to zero on a GPU).

struct Params {
  words: u32,   // blocks words = E * R * C / 8
  rows: u32,    // R, the stored rows of one expert
  cols: u32,    // C
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> blocks: array<u32>;         // [E * R * C / 8]
@group(0) @binding(2) var<storage, read> scales: array<u32>;         // [ceil(E * R * C / 32 / 4)]
@group(0) @binding(3) var<storage, read_write> decoded: array<f32>;  // [E, R, C] canonical

override INTERLEAVED: bool = false;

// E2M1 code (sign bit 3, exponent bits 2..1, mantissa bit 0) times 2^exponent: 0, 0.5 (subnormal), then
// (1 + m / 2) * 2^(e - 1) for e = 1..3, i.e. 1, 1.5, 2, 3, 4, 6.
fn e2m1_scaled(code: u32, exponent: i32) -> f32 {
  let e = (code >> 1u) & 3u;
  let m = f32(code & 1u);
  var value = ldexp(0.5 * m, exponent);
  if (e > 0u) {
    value = ldexp(1.0 + 0.5 * m, i32(e) - 1 + exponent);
  }
  return select(value, -value, (code & 8u) != 0u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let w = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (w >= params.words) {
    return;
  }
  let first = w * 8u;                      // stored flat element index of the word's first code
  let s_all = first / params.cols;         // stored row over all experts
  let c = first % params.cols;
  let R = params.rows;
  let e = s_all / R;
  let s = s_all % R;
  var row = s;
  if (INTERLEAVED) {
    row = (s % 2u) * (R / 2u) + s / 2u;
  }
  let group = first / 32u;
  let scale = (scales[group >> 2u] >> ((group & 3u) * 8u)) & 0xffu;
  let exponent = i32(scale) - 127;
  let word = blocks[w];
  let out = (e * R + row) * params.cols + c;
  for (var j = 0u; j < 8u; j++) {
    decoded[out + j] = e2m1_scaled((word >> (4u * j)) & 15u, exponent);
  }
}
