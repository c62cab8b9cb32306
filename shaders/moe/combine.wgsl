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

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid;
  let H = params.hidden;
  if (i >= params.tokens * H) { return; }
  let t = i / H;
  let h = i % H;
  var sum = 0.0;
  for (var slot = 0u; slot < params.top_k; slot++) {
    let row = row_of_slot[t * params.top_k + slot];
    if (row != NO_ROW) { sum += gates[t * params.top_k + slot] * expert_out[row * H + h]; }
  }
  if (SHARED) {
    var scale = 1.0;
    if (SHARED_GATED) {
      let v = shared_gate_logit[t];
      let e = exp(-abs(v)); // sigmoid without exp overflow
      scale = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
    }
    sum += scale * shared_out[i];
  }
  out[i] = sum;
}
