// Exact selection without sorting, shared by the prune kernels. Radix select and the workgroup scan (this file);
// tie-ordered mask words in select.wgsl.
//
// The k-th smallest key of a group is found by radix select: three passes over 11-bit digits (bits 31..21,
// 20..10, 9..0), most significant first; each pass histograms the keys that match the digits fixed so far and
// picks the bin where the running count reaches the rank. After the last pass the threshold t is exact and `rank`
// says how many keys equal to t are pruned. Masks then prune every key < t and the first `rank` keys == t in index
// order: what a stable ascending sort would prune. The tie order comes from a prefix sum of per-word tie counts.
// 11-bit digits rather than 8: one pass fewer over W, and the first digit (sign, exponent and 2 mantissa bits of a
// non-negative score) spreads typical weights over tens of bins instead of 2-3 (fewer colliding atomics).

const RADIX_BITS: u32 = 11u;
const RADIX_PASSES: u32 = 3u;
const RADIX_BINS: u32 = 2048u;
const SCAN_SEGMENT: u32 = 8u;

// Invocations per workgroup: 32, 64, 128 or 256. Short rows take fewer, so that no invocation idles through every
// barrier; each invocation owns RADIX_BINS / SELECT_THREADS consecutive histogram bins when picking a digit.
override SELECT_THREADS: u32 = 256u;

var<workgroup> histogram: array<atomic<u32>, 2048>; // [RADIX_BINS]
var<workgroup> scan_buffer: array<u32, 256>;        // [SELECT_THREADS]
var<workgroup> segment_totals: array<u32, 32>;      // [SELECT_THREADS / SCAN_SEGMENT]
var<workgroup> picked: vec4u;

// Inclusive prefix sum over the workgroup in local index order. Raking (Blelloch 1990, sec. 1.4): every
// SCAN_SEGMENT-th invocation scans a segment serially, one scans the segment totals, everyone adds its segment's
// offset. 3 barriers instead of Hillis-Steele's 2 log2(n): barriers, not adds, are what a workgroup scan pays for.
fn workgroup_inclusive_scan(lid: u32, value: u32) -> u32 {
  scan_buffer[lid] = value;
  workgroupBarrier();
  let segments = SELECT_THREADS / SCAN_SEGMENT;
  if (lid < segments) {
    var running = 0u;
    for (var i = lid * SCAN_SEGMENT; i < lid * SCAN_SEGMENT + SCAN_SEGMENT; i++) {
      running += scan_buffer[i];
      scan_buffer[i] = running;
    }
    segment_totals[lid] = running;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var running = 0u;
    for (var i = 0u; i < segments; i++) {
      running += segment_totals[i];
      segment_totals[i] = running;
    }
  }
  workgroupBarrier();
  let segment = lid / SCAN_SEGMENT;
  return scan_buffer[lid] + select(0u, segment_totals[max(segment, 1u) - 1u], segment > 0u);
}

// Sum of the values of the last workgroup_inclusive_scan, uniform.
fn workgroup_scan_total() -> u32 {
  return workgroupUniformLoad(&segment_totals[SELECT_THREADS / SCAN_SEGMENT - 1u]);
}

// Lowest bit of the digit that radix pass `radix_pass` fixes: 21, 10, 0.
fn radix_shift(radix_pass: u32) -> u32 {
  let top = RADIX_BITS * (radix_pass + 1u);
  return select(0u, 32u - top, top < 32u);
}

// The pass's digit of a key. In the last pass (10 bits) the digit's top bit is already fixed by the prefix: the
// key's own bit, the same for every candidate, so OR-ing the digit into the threshold changes nothing there.
fn radix_digit(key: u32, radix_pass: u32) -> u32 {
  return (key >> radix_shift(radix_pass)) & (RADIX_BINS - 1u);
}

// Bits fixed before pass `radix_pass`: none in pass 0.
fn radix_prefix_mask(radix_pass: u32) -> u32 {
  return select(0xffffffffu << radix_shift(max(radix_pass, 1u) - 1u), 0u, radix_pass == 0u);
}

// Zeroes `histogram`; call from uniform control flow (ends with a barrier).
fn clear_histogram(lid: u32) {
  for (var b = lid; b < RADIX_BINS; b += SELECT_THREADS) {
    atomicStore(&histogram[b], 0u);
  }
  workgroupBarrier();
}

// One radix step over `histogram` (complete: the caller's barrier after the counting). `rank`: 1-based rank of the
// wanted key among the keys that matched the prefix. Returns (digit, rank within that digit's keys, keys with
// that digit, 0), uniform. rank 0 (nothing to prune) picks nothing and returns zeros.
fn pick_digit(lid: u32, rank: u32) -> vec4u {
  if (lid == 0u) {
    picked = vec4u(0u);
  }
  let bins_per_invocation = RADIX_BINS / SELECT_THREADS;
  let first_bin = lid * bins_per_invocation;
  var own = 0u;
  for (var b = first_bin; b < first_bin + bins_per_invocation; b++) {
    own += atomicLoad(&histogram[b]);
  }
  let inclusive = workgroup_inclusive_scan(lid, own);
  var before = inclusive - own;
  if (before < rank && rank <= inclusive) {
    for (var b = first_bin; b < first_bin + bins_per_invocation; b++) {
      let count = atomicLoad(&histogram[b]);
      if (rank <= before + count) {
        picked = vec4u(b, rank - before, count, 0u);
        break;
      }
      before += count;
    }
  }
  return workgroupUniformLoad(&picked);
}
