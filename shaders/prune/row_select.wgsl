// Unstructured pruning with one comparison group per output row (Wanda's and MoE-Pruner's default): one
// workgroup per row scores, selects and writes the row's keep-mask in a single dispatch. Two ways, chosen per matrix
// by the host (`rowSelectShape` in src/gpu/kernels/prune/row_select.ts) from the row's width:
// - keys in registers (KEYS_IN_REGISTERS = 1; rows of up to ROW_WORDS x 256 mask words, 16352 columns on a GPU:
//   every real expert row): each invocation scores ROW_WORDS whole mask words once and keeps their keys in
//   registers (64 on a GPU, 128 on a CPU driver: ROW_SELECT_WORDS in src/gpu/kernels/prune/row_select.ts). The
//   k-th smallest key is found by radix select on 4-bit digits of (key - lo) over an interval [lo, hi] that holds
//   it, starting from the row's smallest and largest key (the first step's digits start 6 binades below the
//   largest, FIRST_STEP_SPAN): every invocation counts its candidates per digit in registers (16 byte-wide
//   counters in a vec4u) and notes their smallest and largest, the workgroup folds the counters (fold_partials),
//   and the interval becomes the digit holding the rank, clipped to the candidates' smallest and largest key (so a
//   run of equal keys, e.g. f16 ties, ends the search once they are the only candidates). The digit width follows
//   the interval (2^shift with shift = bit length of hi - lo, minus 4), so hi - lo loses 4 bits per step: at most
//   9 steps, about 3.6 for 4096 continuous scores. The mask words then come from the registers with the tie order
//   of select.wgsl; only a threshold whose ties are split (some pruned, some kept) needs the ties before each word,
//   counted by one workgroup scan per two word slots; otherwise no barrier follows the search.
//   Scoring reads W and the column factors 16 bytes at a time where the host allows it (params.vec4_loads:
//   cols a multiple of 32 and W 16-byte aligned, every real expert; score_keys8 in score.wgsl), else each word of
//   f16 / bf16 weights once for its two elements (score_keys4). A CPU driver runs every storage load lane by lane,
//   whatever its width: 16-byte loads took a third of lavapipe's time off f32 rows (bench/README.md).
//   Why not the 2048-bin histogram of radix.wgsl here: on CPU drivers (lavapipe, SwiftShader) a workgroup atomic
//   runs lane by lane as a locked instruction, every bin is cleared and scanned per pass, and each pass re-read and
//   re-scored W; counting in registers costs a few vector operations per key and step, and the workgroup's shared
//   work per step is a fold of 256 x 6 words instead of 2048 bins. On a GPU it suits as well: the row is read from
//   memory once (word-strided, so neighbouring invocations read neighbouring 32-element words) instead of 3-4
//   times, the search touches registers and 6 KiB of workgroup memory (4 barriers per step: two in fold_partials,
//   two in workgroupUniformLoad, which Tint lowers to barrier, load, barrier), no atomics but the mask words shared
//   with a neighbouring row; the mask pass adds no barrier unless the threshold's ties are split.
// - streaming (KEYS_IN_REGISTERS = 0, wider rows): radix select with the 2048-bin histogram of radix.wgsl, scores
//   recomputed from W on each pass: up to 3 histogram passes (usually 2: see the early exit) and the mask pass.
// - one row per invocation (entry point main_lane_rows; rows of at most LANE_ROW_MAX_COLS columns, the experts of
//   tiny models such as the shipped default's 24- and 96-wide rows): LANE_ROWS rows per workgroup, each scored into
//   the invocation's own array and its k-th smallest key found bit by bit (32 counting passes over the row), with no
//   workgroup memory and no barrier. A row of 96 columns needs 2 of main's 32 invocations, and every search step
//   costs that workgroup 4 barriers: SwiftShader, which runs a workgroup's invocations as coroutines that switch at
//   each barrier, spent about 0.2 ms per such row (bench/README.md). A GPU never takes this way for a real model.
// All three prune exactly the same weights (docs/pruning.md). Include weights.wgsl, score.wgsl, radix.wgsl,
// select.wgsl.

struct Params {
  rows: u32,
  cols: u32,
  weight_base: u32,    // the matrix's first element in `weights`
  mask_word_base: u32, // the matrix's first word in `mask`
  prune_count: u32,    // k = floor(cols * sparsity): pruned in every row
  stream_key: u32,     // random method: randomStreamKey(seed, stream)
  vec4_loads: u32,     // 1: score through score_keys8 (ScoredMatrix.vec4Loads; then every mask word is the row's own)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>;           // W [rows, cols], WEIGHT_DTYPE
@group(0) @binding(2) var<storage, read> column_factors: array<f32>;    // [cols]
@group(0) @binding(3) var<storage, read_write> mask: array<atomic<u32>>; // bitset over rows * cols

@compute @workgroup_size(SELECT_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  if (KEYS_IN_REGISTERS == 1u) {
    select_row_in_registers(row, lid);
  } else {
    select_row_streaming(row, lid);
  }
}

// Rows per workgroup of main_lane_rows, and the widest row it takes (the length of its key array).
const LANE_ROWS: u32 = 64u;
const LANE_ROW_MAX_COLS: u32 = 128u;

@compute @workgroup_size(LANE_ROWS)
fn main_lane_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * LANE_ROWS + lid;
  if (row >= params.rows) {
    return;
  }
  let cols = params.cols;
  let row_start = row * cols;
  var keys: array<u32, LANE_ROW_MAX_COLS>;
  for (var c = 0u; c < cols; c++) {
    keys[c] = score_key(params.weight_base + row_start + c, row_start + c, c, params.stream_key);
  }
  // The k-th smallest key t, most significant bit first: t keeps a bit when fewer than k keys lie below it with the
  // bit set, so in the end fewer than k keys are < t and at least k are <= t. Then every key < t is pruned, and the
  // remaining k - below(t) ties with t lowest column first (select.wgsl's tie order); below(t) is the count taken
  // when t last gained a bit (0 for t = 0).
  let k = params.prune_count;
  var threshold = 0u;
  var below_threshold = 0u;
  if (k > 0u) {
    for (var bit = 32u; bit > 0u; bit--) {
      let trial = threshold | (1u << (bit - 1u));
      var below = 0u;
      for (var c = 0u; c < cols; c++) {
        below += select(0u, 1u, keys[c] < trial);
      }
      if (below < k) {
        threshold = trial;
        below_threshold = below;
      }
    }
  }
  var ties_to_prune = k - below_threshold;
  let row_end = row_start + cols;
  var e = row_start;
  while (e < row_end) {
    let lo = e;
    let hi = min((lo & ~31u) + 32u, row_end);
    var keep = 0u;
    for (; e < hi; e++) {
      let key = keys[e - row_start];
      var pruned = key < threshold;
      if (key == threshold && ties_to_prune > 0u) {
        pruned = true;
        ties_to_prune -= 1u;
      }
      keep |= select(1u << (e & 31u), 0u, pruned);
    }
    store_mask_word(lo >> 5u, lo, hi, keep);
  }
}

// Writes one mask word's keep bits: a word of the row's own is stored, one shared with the neighbouring row (cols
// not a multiple of 32) is OR-ed into the cleared mask.
fn store_mask_word(word: u32, lo: u32, hi: u32, keep: u32) {
  if (lo < hi) {
    if (hi - lo == 32u) {
      atomicStore(&mask[params.mask_word_base + word], keep);
    } else {
      atomicOr(&mask[params.mask_word_base + word], keep);
    }
  }
}

// 1: keys in registers (rows of at most ROW_WORDS x SELECT_THREADS mask words); 0: streaming.
override KEYS_IN_REGISTERS: u32 = 1u;

// ROW_WORDS, the mask words per invocation in registers (2 or 4: the tie scan below takes them in pairs), is a
// const the host prepends to this file, one kernel per value (ROW_SELECT_WORDS in
// src/gpu/kernels/prune/row_select.ts), because the key arrays below are sized by it: an array sized for 4 and
// used for 2 (an override) ran 40% slower on lavapipe. Why 4 on a CPU driver: lavapipe runs a workgroup's
// subgroups of 8 invocations as coroutines, and each of a search step's 4 barriers is an mfence and a switch per
// subgroup (perf put a sixth of the kernel's samples on the instruction after the mfences); half the invocations
// per row halve those switches, while 128 keys per invocation still stay in registers (256 did not: slower than
// 64). bench/README.md measures it.
const ROW_MAX_STEPS: u32 = 10u;          // a step shrinks hi - lo below 2^(bits - 4): at most 8 steps from 2^32, 9
                                         // when the first step's digit 0 holds the rank
// The first step's digits cover 6 binades below the row's largest key (6 << 23 in f32 bits): for 4096 scores of
// a trained matrix the rank's digit then holds far fewer keys than a digit of [smallest, largest] does, and the
// search takes about 3.6 steps instead of 4.6 for wanda scores, 3.7 instead of 4.0 for magnitudes (simulated on
// bench/prune-select.ts's rows). A rank below that range costs one step more. Not for the random method: its
// keys are uniform over all u32.
const FIRST_STEP_SPAN: u32 = 0x03000000u;
// A slot past the row's ends. Above every score key (<= SCORE_INFINITY_BITS), so never a candidate; the random
// method's keys take every u32 value, so there it may tie with the largest key, which changes no choice: k < cols
// keys are pruned, so the k-th smallest key never needs an absent slot counted, and the mask drops its bits.
const KEY_ABSENT: u32 = 0xffffffffu;
const STEP_OPEN: u32 = 0u;
const STEP_EXACT: u32 = 1u;              // threshold = lo = hi, the remaining rank are its ties to prune
const STEP_ALL: u32 = 2u;                // every key <= hi is pruned
const ALL_TIES: u32 = 0xffffffffu;       // ties_to_prune when every key equal to the threshold is pruned

var<workgroup> partial_counts: array<vec4u, 256>; // [SELECT_THREADS]: 16 digit counts of one invocation, a byte each
var<workgroup> partial_range: array<vec2u, 256>;  // [SELECT_THREADS]: smallest, largest candidate key
var<workgroup> search: vec4u;                     // lo, hi, keys below lo, STEP_*

const FOLD_LANES: u32 = 8u; // invocations that fold the partials first (SELECT_THREADS >= 32)
const BYTE_LANES: u32 = 0x00ff00ffu;

struct Folded {
  even: vec4u, // digit counts 4c and 4c + 2 of the workgroup in the 16-bit halves of component c
  odd: vec4u,  // digit counts 4c + 1 and 4c + 3 (a row in registers has at most 2^15 keys: 16 bits hold any count)
  low: u32,
  high: u32,
}

// Sums every invocation's partial_counts and partial_range; the result is complete in invocation 0 only. Call from
// uniform control flow once both are written. FOLD_LANES invocations fold every FOLD_LANES-th entry first, then
// invocation 0 folds their sums: a serial chain of SELECT_THREADS / 8 + 8 entries, not SELECT_THREADS.
fn fold_partials(lid: u32) -> Folded {
  workgroupBarrier();
  var sum = Folded(vec4u(0u), vec4u(0u), KEY_ABSENT, 0u);
  if (lid < FOLD_LANES) {
    for (var t = lid; t < SELECT_THREADS; t += FOLD_LANES) {
      let c = partial_counts[t];
      sum.even += c & vec4u(BYTE_LANES);
      sum.odd += (c >> vec4u(8u)) & vec4u(BYTE_LANES);
      sum.low = min(sum.low, partial_range[t].x);
      sum.high = max(sum.high, partial_range[t].y);
    }
    // Entries lid and lid + FOLD_LANES were read by this invocation only.
    partial_counts[lid] = sum.even;
    partial_counts[lid + FOLD_LANES] = sum.odd;
    partial_range[lid] = vec2u(sum.low, sum.high);
  }
  workgroupBarrier();
  if (lid == 0u) {
    sum = Folded(vec4u(0u), vec4u(0u), KEY_ABSENT, 0u);
    for (var t = 0u; t < FOLD_LANES; t++) {
      sum.even += partial_counts[t];
      sum.odd += partial_counts[t + FOLD_LANES];
      sum.low = min(sum.low, partial_range[t].x);
      sum.high = max(sum.high, partial_range[t].y);
    }
  }
  return sum;
}

fn select_row_in_registers(row: u32, lid: u32) {
  let cols = params.cols;
  let row_start = row * cols;
  let row_end = row_start + cols;
  let first_word = row_start >> 5u;
  // Invocation lid owns mask words first_word + lid + s x SELECT_THREADS (s < ROW_WORDS); keys[s x 8 + j] holds
  // the keys of the word's elements 4j..4j+3, KEY_ABSENT outside the row. Four keys per array element and loops of
  // constant length, so that compilers keep the array in registers instead of indexing memory.
  var keys: array<vec4u, ROW_WORDS * 8u>;
  var smallest = vec4u(KEY_ABSENT);
  var largest = vec4u(0u);
  if (params.vec4_loads == 1u) {
    // cols is a multiple of 32: the row's words are whole, cols / 32 of them; slots past them read the row's last
    // word again (in bounds) and are marked absent.
    let row_words = cols >> 5u;
    // One loop over the eighths of the invocation's words (word slot i / 4, eighth i % 4). Nested loops over slots
    // and eighths scored f32 wanda rows a third slower on lavapipe with 4 slots (28 against 19 ms per 2048 rows of
    // 4096), as if left rolled with the keys indexed in memory.
    for (var i = 0u; i < ROW_WORDS * 4u; i++) {
      let slot = lid + (i >> 2u) * SELECT_THREADS;
      let present = vec4<bool>(slot < row_words);
      let col = min(slot, row_words - 1u) * 32u + 8u * (i & 3u);
      let eight = score_keys8(params.weight_base + row_start + col, col);
      for (var h = 0u; h < 2u; h++) {
        let key = select(vec4u(KEY_ABSENT), eight[h], present);
        smallest = min(smallest, key);
        largest = select(largest, max(largest, key), present);
        keys[2u * i + h] = key;
      }
    }
  } else {
    // Nested on purpose: flattened like the loop above, its unrolled score_keys4 calls took lavapipe 15-20 s to
    // compile per pipeline instead of 2-3 (every pipeline holds this branch; vec4_loads is a parameter).
    for (var s = 0u; s < ROW_WORDS; s++) {
      let word = first_word + lid + s * SELECT_THREADS;
      for (var j = 0u; j < 8u; j++) {
        let e = vec4u(word * 32u + 4u * j) + vec4u(0u, 1u, 2u, 3u);
        let inside = (e >= vec4u(row_start)) & (e < vec4u(row_end));
        // Scored without branches: slots outside the row score a clamped element and are then marked absent.
        let at = clamp(e, vec4u(row_start), vec4u(row_end - 1u));
        let col = at - vec4u(row_start);
        let base = params.weight_base;
        let stream = params.stream_key;
        let scored = score_keys4(base + at, at, col, stream);
        let key = select(vec4u(KEY_ABSENT), scored, inside);
        smallest = select(smallest, min(smallest, key), inside);
        largest = select(largest, max(largest, key), inside);
        keys[s * 8u + j] = key;
      }
    }
  }

  var threshold = 0u;
  var ties_to_prune = 0u;
  if (params.prune_count > 0u) {
    // The search starts on [smallest key, largest key] of the row.
    partial_counts[lid] = vec4u(0u);
    partial_range[lid] = vec2u(min(min(smallest.x, smallest.y), min(smallest.z, smallest.w)),
                               max(max(largest.x, largest.y), max(largest.z, largest.w)));
    let row_range = fold_partials(lid);
    if (lid == 0u) {
      search = vec4u(row_range.low, row_range.high, 0u, select(STEP_OPEN, STEP_EXACT, row_range.low == row_range.high));
    }
    // Invocation 0 picks the digit and the others load its choice, uniform, so that the loop may hold barriers.
    // Every invocation folding the lane sums and picking for itself would save the two barriers of this load, but
    // a CPU driver loads workgroup memory lane by lane: measured slower on lavapipe (bench/README.md).
    var picked = workgroupUniformLoad(&search);
    for (var step = 0u; step < ROW_MAX_STEPS && picked.w == STEP_OPEN; step++) {
      // The candidates are the keys in [floor, hi]; keys below floor are pruned. The 16 digits cover [lo, hi] and
      // digit 0 also takes the candidates below lo. lo = floor except in the first step of a score method, where
      // the digits start FIRST_STEP_SPAN below the row's largest key (keys are f32 bits: 6 binades).
      let floor = picked.x;
      let hi = picked.y;
      let clipped = step == 0u && PRUNE_METHOD != 2u;
      let lo = select(floor, max(floor, hi - min(hi, FIRST_STEP_SPAN)), clipped);
      let span = hi - lo;
      let reach = hi - floor;
      let below = picked.z; // keys < floor: all pruned
      let bits = 32u - countLeadingZeros(span);
      let shift = select(0u, bits - 4u, bits > 4u); // 16 digits of 2^shift cover [lo, hi]
      var counts = vec4u(0u); // digit d counted in byte d & 3 of component d >> 2
      var low = KEY_ABSENT;
      var high = 0u;
      var low4 = vec4u(KEY_ABSENT);
      var high4 = vec4u(0u);
      for (var i = 0u; i < ROW_WORDS * 8u; i++) {
        let key = keys[i];
        // Wraps above reach for keys < floor (and KEY_ABSENT): not candidates.
        let candidate = key - vec4u(floor) <= vec4u(reach);
        let digit = (max(key, vec4u(lo)) - vec4u(lo)) >> vec4u(shift);
        let one = select(vec4u(0u), vec4u(1u) << ((digit & vec4u(3u)) * 8u), candidate);
        let quarter = digit >> vec4u(2u);
        counts += select(vec4u(0u), vec4u(one.x), vec4u(quarter.x) == vec4u(0u, 1u, 2u, 3u));
        counts += select(vec4u(0u), vec4u(one.y), vec4u(quarter.y) == vec4u(0u, 1u, 2u, 3u));
        counts += select(vec4u(0u), vec4u(one.z), vec4u(quarter.z) == vec4u(0u, 1u, 2u, 3u));
        counts += select(vec4u(0u), vec4u(one.w), vec4u(quarter.w) == vec4u(0u, 1u, 2u, 3u));
        low4 = select(low4, min(low4, key), candidate);
        high4 = select(high4, max(high4, key), candidate);
      }
      low = min(min(low4.x, low4.y), min(low4.z, low4.w));
      high = max(max(high4.x, high4.y), max(high4.z, high4.w));
      partial_counts[lid] = counts;
      partial_range[lid] = vec2u(low, high);
      let total = fold_partials(lid);
      if (lid == 0u) {
        // The digit holding the rank-th smallest candidate (rank >= 1; the candidates number at least rank).
        let rank = params.prune_count - below;
        var before = 0u;
        var digit = 0u;
        var count = 0u;
        for (var d = 0u; d < 16u; d++) {
          let halves = select(total.even[d >> 2u], total.odd[d >> 2u], (d & 1u) == 1u);
          count = (halves >> ((d & 2u) * 8u)) & 0xffffu;
          digit = d;
          if (rank <= before + count) {
            break;
          }
          before += count;
        }
        // The digit's keys, clipped to the candidates' range (digit 0 from the smallest candidate, which may lie
        // below lo); (digit + 1) << shift <= 2^bits: no overflow past hi.
        let digit_lo = select(max(lo + (digit << shift), total.low), total.low, digit == 0u);
        let digit_hi = min(lo + min((digit << shift) + ((1u << shift) - 1u), span), total.high);
        if (rank - before == count) {
          // Every candidate with this digit is pruned: so is every key up to the digit's largest, ties included.
          search = vec4u(digit_hi, digit_hi, below + before + count, STEP_ALL);
        } else {
          search = vec4u(digit_lo, digit_hi, below + before, select(STEP_OPEN, STEP_EXACT, digit_lo == digit_hi));
        }
      }
      picked = workgroupUniformLoad(&search);
    }
    threshold = picked.x;
    ties_to_prune = select(params.prune_count - picked.z, ALL_TIES, picked.w == STEP_ALL);
  }

  // The mask words, in select.wgsl's tie order. Only a threshold with more ties than it prunes needs the ties
  // before each word: one workgroup scan per pair of word slots, their tie counts packed in 16-bit halves (a row's
  // ties < 2^15). Every word of slot s comes after every word of the slots before it.
  var less: array<u32, ROW_WORDS>;
  var ties: array<u32, ROW_WORDS>;
  for (var s = 0u; s < ROW_WORDS; s++) {
    let word = first_word + lid + s * SELECT_THREADS;
    let valid = word_bits(max(word * 32u, row_start), min(word * 32u + 32u, row_end));
    var classes = vec2u(0u);
    for (var j = 0u; j < 8u; j++) {
      let key = keys[s * 8u + j];
      let bits = vec4u(1u, 2u, 4u, 8u) << vec4u(4u * j);
      let below_t = select(vec4u(0u), bits, key < vec4u(threshold));
      let equal_t = select(vec4u(0u), bits, key == vec4u(threshold));
      classes |= vec2u(below_t.x | below_t.y | below_t.z | below_t.w, equal_t.x | equal_t.y | equal_t.z | equal_t.w);
    }
    less[s] = classes.x & valid;
    ties[s] = classes.y & valid;
  }
  if (ties_to_prune == ALL_TIES) {
    for (var s = 0u; s < ROW_WORDS; s++) {
      less[s] |= ties[s];
    }
  } else if (ties_to_prune > 0u) {
    var earlier_slots = 0u; // ties in the slots before the pair, whole row
    for (var s = 0u; s < ROW_WORDS; s += 2u) {
      let counts = countOneBits(ties[s]) | (countOneBits(ties[s + 1u]) << 16u);
      let inclusive = workgroup_inclusive_scan(lid, counts);
      // The scan's total, written before its last barrier, read before the next scan's first one.
      let pair = segment_totals[SELECT_THREADS / SCAN_SEGMENT - 1u];
      let before = inclusive - counts;
      let ties_before = vec2u(earlier_slots + (before & 0xffffu), earlier_slots + (pair & 0xffffu) + (before >> 16u));
      for (var h = 0u; h < 2u; h++) {
        let left = select(0u, ties_to_prune - ties_before[h], ties_to_prune > ties_before[h]);
        less[s + h] |= prune_lowest_ties(ties[s + h], left);
      }
      earlier_slots += (pair & 0xffffu) + (pair >> 16u);
    }
  }
  for (var s = 0u; s < ROW_WORDS; s++) {
    let word = first_word + lid + s * SELECT_THREADS;
    let lo = max(word * 32u, row_start);
    let hi = min(word * 32u + 32u, row_end);
    store_mask_word(word, lo, hi, word_bits(lo, hi) & ~less[s]);
  }
}

// The streaming way: keys recomputed from W on every radix pass and for the mask.
fn select_row_streaming(row: u32, lid: u32) {
  let cols = params.cols;
  let row_start = row * cols;
  var threshold = 0u;
  var ties_to_prune = 0u;
  if (params.prune_count > 0u) {
    var rank = params.prune_count;
    for (var radix_pass = 0u; radix_pass < RADIX_PASSES; radix_pass++) {
      let shift = radix_shift(radix_pass);
      let prefix_mask = radix_prefix_mask(radix_pass);
      clear_histogram(lid);
      for (var col = lid; col < cols; col += SELECT_THREADS) {
        let key = score_key(params.weight_base + row_start + col, row_start + col, col, params.stream_key);
        if ((key & prefix_mask) == threshold) {
          atomicAdd(&histogram[radix_digit(key, radix_pass)], 1u);
        }
      }
      workgroupBarrier();
      let digit = pick_digit(lid, rank);
      threshold |= digit.x << shift;
      rank = digit.y;
      ties_to_prune = rank;
      if (digit.y == digit.z) {
        // Every key with this prefix is pruned: so is everything up to the prefix's largest key, ties included.
        // Usually true once the prefix is unique (for 4096 continuous scores: after 2 passes), saving a read.
        threshold |= (1u << shift) - 1u;
        ties_to_prune = 0xffffffffu;
        break;
      }
    }
  }

  // Mask words overlapping the row, SELECT_THREADS at a time.
  let row_end = row_start + cols;
  let last_word = (row_end - 1u) >> 5u;
  var ties_before = 0u;
  for (var block = row_start >> 5u; block <= last_word; block += SELECT_THREADS) {
    let word = block + lid;
    let lo = max(word * 32u, row_start);
    let hi = min(word * 32u + 32u, row_end);
    let selected = select_word(lid, lo, hi, lo - row_start, cols, params.weight_base, params.stream_key,
                               threshold, ties_before, ties_to_prune);
    store_mask_word(word, lo, hi, selected.x);
    ties_before += selected.y;
  }
}
