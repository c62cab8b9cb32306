// Batched transpose out[z, c, r] = in[z, r, c] for z < batch, [rows, cols] each, at element offsets: keeps the
// copies W^T that the forward products read as their right operand (contiguous along the output column, see
// matmul.wgsl), refreshed after every optimizer step.

struct Params {
  batch: u32,
  rows: u32,
  cols: u32,
  in_offset: u32,
  out_offset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x;
  let rz = gid.y + gid.z * nwg.y;
  if (c >= params.cols || rz >= params.rows * params.batch) { return; }
  let z = rz / params.rows;
  let r = rz % params.rows;
  let size = params.rows * params.cols;
  output[params.out_offset + z * size + c * params.rows + r] = input[params.in_offset + z * size + r * params.cols + c];
}
