// Pruning scores as u32 keys (include after shaders/common/weights.wgsl). Bit for bit what
// src/engine/prune/scores.ts computes; the rules and why are in docs/pruning.md. The including kernel declares
//   weights: array<u32>          the packed weights (WEIGHT_DTYPE)
//   column_factors: array<f32>   [cols] c_j = fround(sqrt(s_j)) from the host (unread by magnitude and random)
// and binds the two 16-byte views below (scoredBindings in src/gpu/kernels/prune/score.ts).
// A score is a non-negative f32, so its bits order like its value and radix select can work on the bits.

// The same two buffers read 16 bytes at a time, by score_keys8 only: bound where the host allows it
// (ScoredMatrix.vec4Loads: cols a multiple of 32 and W's first element on a 16-byte boundary), else a 16-byte
// placeholder. A CPU driver (lavapipe) runs every storage load lane by lane with a bounds check, one per load
// instruction whatever its width: a 16-byte load brings 4 f32 or 8 f16 / bf16 weights for the price of one.
// A GPU issues a quarter (f32) or an eighth (f16) of the load instructions.
@group(0) @binding(6) var<storage, read> weights_vec4: array<vec4u>;
@group(0) @binding(7) var<storage, read> column_factors_vec4: array<vec4f>;

// 0 = magnitude |w|; 1 = |w| * c_j (wanda, moe-pruner: they differ only in the statistic behind c); 2 = random.
override PRUNE_METHOD: u32 = 0u;

const SCORE_TINY_BITS: u32 = 0x00800000u;     // smallest normal f32: this and below count as 0
const SCORE_INFINITY_BITS: u32 = 0x7f800000u; // inf, NaN and overflow: kept last

// GPUs may flush subnormal operands or results to zero (WGSL allows it), so both sides flush explicitly, with
// integer compares that no float mode can change.
fn clamp_score_bits(bits: vec4u) -> vec4u {
  return select(min(bits, vec4u(SCORE_INFINITY_BITS)), vec4u(0u), bits <= vec4u(SCORE_TINY_BITS));
}

// The keys of four weights w with their column factors (unread by magnitude): the one definition of the score,
// |w| for magnitude, |w| * c_j for wanda and moe-pruner (0 and inf keep |w|).
fn score_keys_of(w: vec4f, factor: vec4f) -> vec4u {
  let magnitude = clamp_score_bits(bitcast<vec4u>(w) & vec4u(0x7fffffffu));
  if (PRUNE_METHOD != 1u) {
    return magnitude;
  }
  // One IEEE multiplication of two normal f32: correctly rounded in WGSL, as fround(a * b) is on the CPU.
  let scaled = clamp_score_bits(bitcast<vec4u>(bitcast<vec4f>(magnitude) * factor));
  return select(scaled, magnitude, (magnitude == vec4u(0u)) | (magnitude == vec4u(SCORE_INFINITY_BITS)));
}

// murmur3's 32-bit finalizer: a bijection on u32.
fn mix32(value: u32) -> u32 {
  var x = value;
  x ^= x >> 16u;
  x *= 0x85ebca6bu;
  x ^= x >> 13u;
  x *= 0xc2b2ae35u;
  x ^= x >> 16u;
  return x;
}

// weight_index: position in `weights` (matrix base + element); element: flat row-major index within the matrix
// (the random hash's input); col: the element's input column; stream_key: randomStreamKey(seed, stream).
fn score_key(weight_index: u32, element: u32, col: u32, stream_key: u32) -> u32 {
  if (PRUNE_METHOD == 2u) {
    return mix32((element * 0x9e3779b1u) ^ stream_key);
  }
  return score_key_in_word(weights[weight_word(weight_index)], weight_index, col);
}

// The key of element weight_index (magnitude, wanda, moe-pruner) given the word that holds it: for kernels that
// read a word once for both of its f16 / bf16 elements.
fn score_key_in_word(word: u32, weight_index: u32, col: u32) -> u32 {
  var factor = 1.0;
  if (PRUNE_METHOD == 1u) {
    factor = column_factors[col];
  }
  return score_keys_of(vec4f(decode_weight(word, weight_index)), vec4f(factor)).x;
}

// Keys of four elements (weight indices, elements, columns). Four consecutive f16 / bf16 weights starting on an
// even index fill two words, each read once for both of its elements: a CPU driver runs every storage load lane
// by lane with a bounds check, so there loads, not arithmetic, are most of the scoring; a GPU issues half the
// load instructions.
fn score_keys4(index: vec4u, element: vec4u, col: vec4u, stream: u32) -> vec4u {
  if (PRUNE_METHOD == 2u) {
    return vec4u(score_key(index.x, element.x, col.x, stream), score_key(index.y, element.y, col.y, stream),
                 score_key(index.z, element.z, col.z, stream), score_key(index.w, element.w, col.w, stream));
  }
  var words: vec4u;
  if (WEIGHT_DTYPE != 0u && (index.x & 1u) == 0u && index.w == index.x + 3u) {
    let low = weights[index.x >> 1u];
    let high = weights[(index.x >> 1u) + 1u];
    words = vec4u(low, low, high, high);
  } else {
    words = vec4u(weights[weight_word(index.x)], weights[weight_word(index.y)], weights[weight_word(index.z)],
                  weights[weight_word(index.w)]);
  }
  var factor = vec4f(1.0);
  if (PRUNE_METHOD == 1u) {
    factor = vec4f(column_factors[col.x], column_factors[col.y], column_factors[col.z], column_factors[col.w]);
  }
  let w = vec4f(decode_weight(words.x, index.x), decode_weight(words.y, index.y), decode_weight(words.z, index.z),
                decode_weight(words.w, index.w));
  return score_keys_of(w, factor);
}

// Keys of the eight weights weight_index .. weight_index + 7 in columns col .. col + 7 of one row, through the
// 16-byte views: only where the host set ScoredMatrix.vec4Loads (then weight_index is a multiple of 8 for f16 /
// bf16 and of 4 for f32, col a multiple of 8); not for the random method. Elements 4i .. 4i + 3 in result i.
fn score_keys8(weight_index: u32, col: u32) -> array<vec4u, 2> {
  return score_keys8_with(weight_index, column_factors8(col));
}

// The column factors of columns col .. col + 7 (col a multiple of 8) for score_keys8_with: ones for magnitude.
fn column_factors8(col: u32) -> array<vec4f, 2> {
  if (PRUNE_METHOD != 1u) {
    return array(vec4f(1.0), vec4f(1.0));
  }
  return array(column_factors_vec4[col >> 2u], column_factors_vec4[(col >> 2u) + 1u]);
}

// score_keys8 with the eight column factors given: for a kernel that scores the same columns in several rows and
// reads their factors once.
fn score_keys8_with(weight_index: u32, factors: array<vec4f, 2>) -> array<vec4u, 2> {
  var w0: vec4f;
  var w1: vec4f;
  if (WEIGHT_DTYPE == 0u) {
    w0 = bitcast<vec4f>(weights_vec4[weight_index >> 2u]);
    w1 = bitcast<vec4f>(weights_vec4[(weight_index >> 2u) + 1u]);
  } else {
    let words = weights_vec4[weight_index >> 3u];
    w0 = vec4f(decode_weight_pair(words.x), decode_weight_pair(words.y));
    w1 = vec4f(decode_weight_pair(words.z), decode_weight_pair(words.w));
  }
  return array(score_keys_of(w0, factors[0]), score_keys_of(w1, factors[1]));
}
