// Pruning scores as u32 keys (include after shaders/common/weights.wgsl). Bit for bit what
// src/engine/prune/scores.ts computes; the rules and why are in docs/pruning.md. The including kernel declares
//   weights: array<u32>          the packed weights (WEIGHT_DTYPE)
//   column_factors: array<f32>   [cols] c_j = fround(sqrt(s_j)) from the host (unread by magnitude and random)
// A score is a non-negative f32, so its bits order like its value and radix select can work on the bits.

// 0 = magnitude |w|; 1 = |w| * c_j (wanda, moe-pruner: they differ only in the statistic behind c); 2 = random.
override PRUNE_METHOD: u32 = 0u;

const SCORE_TINY_BITS: u32 = 0x00800000u;     // smallest normal f32: this and below count as 0
const SCORE_INFINITY_BITS: u32 = 0x7f800000u; // inf, NaN and overflow: kept last

// GPUs may flush subnormal operands or results to zero (WGSL allows it), so both sides flush explicitly, with
// integer compares that no float mode can change.
fn clamp_score_bits(bits: u32) -> u32 {
  if (bits <= SCORE_TINY_BITS) {
    return 0u;
  }
  return min(bits, SCORE_INFINITY_BITS);
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
  let w = decode_weight(word, weight_index);
  let magnitude = clamp_score_bits(bitcast<u32>(w) & 0x7fffffffu);
  if (PRUNE_METHOD == 0u || magnitude == 0u || magnitude == SCORE_INFINITY_BITS) {
    return magnitude;
  }
  // One IEEE multiplication of two normal f32: correctly rounded in WGSL, as fround(a * b) is on the CPU.
  return clamp_score_bits(bitcast<u32>(bitcast<f32>(magnitude) * column_factors[col]));
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
  return vec4u(score_key_in_word(words.x, index.x, col.x), score_key_in_word(words.y, index.y, col.y),
               score_key_in_word(words.z, index.z, col.z), score_key_in_word(words.w, index.w, col.w));
}
