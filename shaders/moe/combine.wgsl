// MoE output: out[t] = sum over the K slots of gate[t, slot] * expert_out[row_of_slot[t, slot]]
//   (+ shared_scale(t) * shared_out[t] with a shared expert; shared_scale = sigmoid(shared_gate_logit[t]) for
//   Qwen2-MoE's gated shared expert, 1 otherwise). Slots are summed in order: reproducible run to run.

struct Params {
  tokens: u32,
  hidden: u32,
  top_k: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> expert_out: array<f32>;        // [rows, H]
@group(0) @binding(2) var<storage, read> gates: array<f32>;             // [T, K]
@group(0) @binding(3) var<storage, read> row_of_slot: array<u32>;       // [T, K], NO_ROW for empty slots
@group(0) @binding(4) var<storage, read> shared_out: array<f32>;        // [T, H] (SHARED)
@group(0) @binding(5) var<storage, read> shared_gate_logit: array<f32>; // [T] (SHARED_GATED)
@group(0) @binding(6) var<storage, read_write> out: array<f32>;         // [T, H]

override WORKGROUP_SIZE: u32 = 256u;
override SHARED: bool = false;
override SHARED_GATED: bool = false;

const NO_ROW: u32 = 0xffffffffu;

// Outputs per invocation: consecutive h of one token, so that each slot's row and gate are read once for all of
// them (a CPU driver runs every storage load lane by lane; at top-16 of 64 experts the combine was a tenth of the
// default model's forward on lavapipe). COMBINE_SPAN in the host.
const SPAN: u32 = 4u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let H = params.hidden;
  let spans = (H + SPAN - 1u) / SPAN; // per token
  let invocation = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  if (invocation >= params.tokens * spans) { return; }
  let t = invocation / spans;
  let h0 = (invocation % spans) * SPAN;
  var sum: array<f32, SPAN>;
  for (var slot = 0u; slot < params.top_k; slot++) {
    let row = row_of_slot[t * params.top_k + slot];
    if (row == NO_ROW) { continue; }
    let gate = gates[t * params.top_k + slot];
    for (var c = 0u; c < SPAN; c++) {
      // Past the row's end (H not a multiple of SPAN) read its last element again: never written.
      sum[c] += gate * expert_out[row * H + min(h0 + c, H - 1u)];
    }
  }
  var scale = 1.0;
  if (SHARED_GATED) {
    let v = shared_gate_logit[t];
    let e = exp(-abs(v)); // sigmoid without exp overflow
    scale = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
  }
  for (var c = 0u; c < SPAN; c++) {
    let h = h0 + c;
    if (h >= H) { break; }
    var value = sum[c];
    if (SHARED) { value += scale * shared_out[t * H + h]; }
    out[t * H + h] = value;
  }
}
