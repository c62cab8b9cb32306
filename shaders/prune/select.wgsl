// Mask words in tie order, shared by the prune kernels that write masks (include after weights.wgsl,
// score.wgsl and radix.wgsl): elements scoring below the group's threshold are pruned, and ties with it are pruned
// lowest index first while the group's tie budget lasts.

// Bits [first, to) of a word, 0 <= first < to <= 32.
fn bit_range(first: u32, to: u32) -> u32 {
  let below_to = select((1u << to) - 1u, 0xffffffffu, to >= 32u);
  return below_to & ~((1u << first) - 1u);
}

// Elements [lo, hi) of one mask word (lo < hi, same word): which score below `threshold` (.x) and which equal it
// (.y), as their bits e & 31. `first_col` is lo's input column.
fn classify_word(lo: u32, hi: u32, first_col: u32, cols: u32, weight_base: u32, stream_key: u32, threshold: u32) -> vec2u {
  var less = 0u;
  var ties = 0u;
  var col = first_col;
  for (var e = lo; e < hi; e++) {
    let key = score_key(weight_base + e, e, col, stream_key);
    let bit = 1u << (e & 31u);
    if (key < threshold) {
      less |= bit;
    } else if (key == threshold) {
      ties |= bit;
    }
    col += 1u;
    if (col == cols) {
      col = 0u;
    }
  }
  return vec2u(less, ties);
}

// Keep bits of one mask word for elements [lo, hi) (none when lo >= hi), invocation lid of a block of
// SELECT_THREADS consecutive words. `ties_before_block`: ties of the group in earlier blocks; `ties_to_prune`:
// the group's tie budget. Returns (keep bits, ties in the whole block); call from uniform control flow.
fn select_word(lid: u32, lo: u32, hi: u32, first_col: u32, cols: u32, weight_base: u32, stream_key: u32,
               threshold: u32, ties_before_block: u32, ties_to_prune: u32) -> vec2u {
  var classes = vec2u(0u, 0u);
  if (lo < hi) {
    classes = classify_word(lo, hi, first_col, cols, weight_base, stream_key, threshold);
  }
  return prune_ties_in_order(lid, classes, word_bits(lo, hi), ties_before_block, ties_to_prune);
}

// Bits of elements [lo, hi) in their mask word (lo < hi in the same word), or 0 when lo >= hi.
fn word_bits(lo: u32, hi: u32) -> u32 {
  return select(0u, bit_range(lo & 31u, hi - (lo & ~31u)), lo < hi);
}

// The tie order of select_word, given one word's classes (.x below the threshold, .y equal to it) and its `valid`
// element bits: the group's ties are pruned lowest index first while `ties_to_prune` lasts. Returns (keep bits,
// ties in the whole block of SELECT_THREADS words); call from uniform control flow.
fn prune_ties_in_order(lid: u32, classes: vec2u, valid: u32, ties_before_block: u32, ties_to_prune: u32) -> vec2u {
  let tie_count = countOneBits(classes.y);
  let ties_before = ties_before_block + workgroup_inclusive_scan(lid, tie_count) - tie_count;
  // Ties are pruned lowest index first while the budget lasts: clear the lowest set bits one by one.
  let left = select(0u, ties_to_prune - ties_before, ties_to_prune > ties_before);
  let pruned = classes.x | prune_lowest_ties(classes.y, left);
  let block_ties = workgroup_scan_total();
  return vec2u(valid & ~pruned, block_ties);
}

// The lowest `left` set bits of `ties` (all of them when fewer): the ties a word prunes, lowest index first.
fn prune_lowest_ties(ties: u32, left: u32) -> u32 {
  var pruned = 0u;
  var rest = ties;
  for (var n = 0u; n < left && rest != 0u; n++) {
    let lowest = rest & (0u - rest);
    pruned |= lowest;
    rest ^= lowest;
  }
  return pruned;
}
