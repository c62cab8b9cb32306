// Routing counts of one MoE layer over a batch, added to running totals (ARCHITECTURE.md statistics format):
//   expert_tokens[a]       += tokens that chose expert a
//   expert_gate_sum[a]     += sum of their g(t, a)
//   coactivation[a, b]     += tokens that chose both a and b (diagonal: expert_tokens)
// from the routing the forward computed: expert ids [T, K] and gates g [T, K] (the weight the architecture
// multiplies the expert's output by, after renormalization).
//
// One workgroup per expert a. Counts are integers, so u32 atomics (in workgroup memory) are exact and
// order-free; the gate sum is f32 and uses a fixed tree over the lanes, so results repeat bit for bit.

struct Params {
  tokens: u32,  // T
  top_k: u32,   // K
  experts: u32, // E
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> expert_ids: array<u32>;               // [T, K]
@group(0) @binding(2) var<storage, read> gates: array<f32>;                    // [T, K]
@group(0) @binding(3) var<storage, read_write> expert_tokens: array<u32>;      // [E] running
@group(0) @binding(4) var<storage, read_write> expert_gate_sum: array<f32>;    // [E] running
@group(0) @binding(5) var<storage, read_write> coactivation: array<u32>;       // [E, E] running

const WORKGROUP: u32 = 256u;
// Length of the co-activation row in workgroup memory: E rounded up to a multiple of 32 by the host, at most 1024
// (ROUTING_COUNTS_MAX_EXPERTS; the host refuses more). Not a fixed 1024: SwiftShader's compile time grows with a
// kernel's workgroup memory (0.5-1 s for this kernel with 4 KiB, bench/README.md).
override CO_ROW: u32 = 1024u;

var<workgroup> co_row: array<atomic<u32>, CO_ROW>;
var<workgroup> count_part: array<u32, WORKGROUP>;
var<workgroup> gate_part: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let a = wid.x;
  let E = params.experts;
  let K = params.top_k;
  for (var b = lid; b < E; b += WORKGROUP) { atomicStore(&co_row[b], 0u); }
  workgroupBarrier();
  var count = 0u;
  var gate_sum = 0.0;
  for (var t = lid; t < params.tokens; t += WORKGROUP) {
    for (var k = 0u; k < K; k++) {
      if (expert_ids[t * K + k] != a) { continue; }
      count += 1u;
      gate_sum += gates[t * K + k];
      for (var k2 = 0u; k2 < K; k2++) {
        let b = expert_ids[t * K + k2];
        if (b < E) { atomicAdd(&co_row[b], 1u); }
      }
    }
  }
  count_part[lid] = count;
  gate_part[lid] = gate_sum;
  workgroupBarrier();
  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      count_part[lid] += count_part[lid + half];
      gate_part[lid] += gate_part[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    expert_tokens[a] += count_part[0];
    expert_gate_sum[a] += gate_part[0];
  }
  for (var b = lid; b < E; b += WORKGROUP) { coactivation[a * E + b] += atomicLoad(&co_row[b]); }
}
