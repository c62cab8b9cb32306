// Exact selection without sorting, shared by the prune kernels; workgroups of 256. Radix select and the
// workgroup scan (this file); tie-ordered mask words in select.wgsl.
//
// The k-th smallest key of a group is found by radix select: four passes of 8 bits, most significant first; each
// pass histograms the keys that match the digits fixed so far and picks the bin where the running count reaches
// the rank. After the last pass the threshold t is exact and `rank` says how many keys equal to t are pruned.
// Masks then prune every key < t and the first `rank` keys == t in index order: what a stable ascending sort
// would prune. The tie order comes from a prefix sum of per-word tie counts.

const RADIX_BITS: u32 = 8u;
const RADIX_PASSES: u32 = 4u;
const SELECT_THREADS: u32 = 256u; // = 2^RADIX_BITS: one histogram bin per invocation

var<workgroup> scan_buffer: array<u32, 256>;
var<workgroup> picked: vec2u;

// Inclusive prefix sum over the workgroup in local index order (Hillis & Steele 1986: 8 doubling steps).
fn workgroup_inclusive_scan(lid: u32, value: u32) -> u32 {
  scan_buffer[lid] = value;
  workgroupBarrier();
  var total = value;
  for (var offset = 1u; offset < SELECT_THREADS; offset <<= 1u) {
    if (lid >= offset) {
      total += scan_buffer[lid - offset];
    }
    workgroupBarrier();
    scan_buffer[lid] = total;
    workgroupBarrier();
  }
  return total;
}

// Position of the digit that radix pass `radix_pass` fixes.
fn radix_shift(radix_pass: u32) -> u32 {
  return 24u - RADIX_BITS * radix_pass;
}

// Bits fixed before pass `radix_pass` (none in pass 0; WGSL shifts by 32 wrap, hence the select).
fn radix_prefix_mask(radix_pass: u32) -> u32 {
  return select(0xffffffffu << (radix_shift(radix_pass) + RADIX_BITS), 0u, radix_pass == 0u);
}

// One radix step. `count`: this invocation's bin (digit = lid); `rank`: 1-based rank of the wanted key among the
// keys that matched the prefix. Returns (digit, rank within that digit's keys), uniform. rank 0 (nothing to
// prune) picks nothing and returns (0, 0).
fn pick_digit(lid: u32, count: u32, rank: u32) -> vec2u {
  if (lid == 0u) {
    picked = vec2u(0u, 0u);
  }
  let inclusive = workgroup_inclusive_scan(lid, count);
  let exclusive = inclusive - count;
  if (exclusive < rank && rank <= inclusive) {
    picked = vec2u(lid, rank - exclusive);
  }
  return workgroupUniformLoad(&picked);
}
