// Expert dispatch, step 3 of 3: the gathered order. One workgroup per expert walks the expert's token bitmap
// (moe/dispatch_count) in token order and gives each token the next row of the expert's range: each thread takes a
// contiguous run of bitmap words, counts their bits, and starts its rows after the bits of the runs before it (one
// barrier). A token's slot for the expert is found among its K ids. Rows are grouped by expert and ascending in
// token within an expert, the same every run. The bitmap makes the work per expert T / 32 words and its own
// assignments, not all T x K of them (E x T x K ids read in all before, most of the dispatch's cost at 64 experts).
//   sorted_rows[row] = a = t * K + slot  (the gathered row's token t = a / K)
//   row_of_slot[a] = row (empty slots got NO_ROW in moe/dispatch_count)

struct Params {
  top_k: u32,
  words: u32, // bitmap words per expert: ceil(T / 32)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> expert_ids: array<u32>;        // [T * K]
@group(0) @binding(2) var<storage, read> offsets: array<u32>;           // [E + 1]
@group(0) @binding(3) var<storage, read> token_bits: array<u32>;        // [E, words]
@group(0) @binding(4) var<storage, read_write> sorted_rows: array<u32>; // [T * K]
@group(0) @binding(5) var<storage, read_write> row_of_slot: array<u32>; // [T * K]

const WORKGROUP_SIZE: u32 = 64u;

var<workgroup> matches: array<u32, WORKGROUP_SIZE>; // tokens of `expert` in each thread's run of words

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let expert = wid.x;
  let W = params.words;
  let K = params.top_k;
  let per_thread = (W + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
  let begin = min(lid * per_thread, W);
  let end = min(begin + per_thread, W);
  let bits_base = expert * W;
  var count = 0u;
  for (var w = begin; w < end; w++) {
    count += countOneBits(token_bits[bits_base + w]);
  }
  matches[lid] = count;
  workgroupBarrier();
  var row = offsets[expert];
  for (var i = 0u; i < lid; i++) { row += matches[i]; }
  for (var w = begin; w < end; w++) {
    var bits = token_bits[bits_base + w];
    while (bits != 0u) {
      let t = w * 32u + firstTrailingBit(bits);
      bits &= bits - 1u;
      for (var slot = 0u; slot < K; slot++) {
        let a = t * K + slot;
        if (expert_ids[a] == expert) {
          sorted_rows[row] = a;
          row_of_slot[a] = row;
          row++;
          break;
        }
      }
    }
  }
}
