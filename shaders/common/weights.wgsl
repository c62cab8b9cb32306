// Weight storage shared by every kernel that reads model weights (prepend with `include` in the host file).
// Weights live in `array<u32>` in their checkpoint dtype: f32 one per word, or f16 / bf16 two per word with
// element 2j in the low half and 2j+1 in the high half (the checkpoint's little-endian bytes, unchanged). Math is
// always f32: `shader-f16` is never required (an H100 through Dawn/Vulkan does not expose it).
//
// Masks (pruning) are bitsets over the same flat row-major element index: bit (i & 31) of word (i >> 5) is 1 when
// element i is kept, 0 when pruned.

// 0 = f32, 1 = f16, 2 = bf16. Set per pipeline (an override constant), so the branch below is resolved at
// pipeline creation and costs nothing in the inner loop.
override WEIGHT_DTYPE: u32 = 0u;

// Index of the u32 word that holds element i.
fn weight_word(i: u32) -> u32 {
  return select(i >> 1u, i, WEIGHT_DTYPE == 0u);
}

// Element i's value given the word that holds it.
fn decode_weight(word: u32, i: u32) -> f32 {
  if (WEIGHT_DTYPE == 0u) {
    return bitcast<f32>(word);
  }
  let half = (word >> ((i & 1u) * 16u)) & 0xffffu;
  if (WEIGHT_DTYPE == 1u) {
    return unpack2x16float(half).x;
  }
  return bitcast<f32>(half << 16u);
}

// Both elements of a word (f16/bf16), or the one f32 value in .x: for kernels that read two columns at a time.
fn decode_weight_pair(word: u32) -> vec2f {
  if (WEIGHT_DTYPE == 0u) {
    return vec2f(bitcast<f32>(word), 0.0);
  }
  if (WEIGHT_DTYPE == 1u) {
    return unpack2x16float(word);
  }
  return vec2f(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

fn mask_keeps(mask_word: u32, i: u32) -> bool {
  return ((mask_word >> (i & 31u)) & 1u) == 1u;
}
