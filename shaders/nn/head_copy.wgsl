// Strided copy of a `width`-wide slice of each head, for multi-head latent attention (DeepSeek-V2 report Sec. 2.1)
// assembled from ordinary kernels: the kv latent out of kv_a_proj_with_mqa's [T, r + dr] rows, per-head k_nope and
// v out of kv_b_proj's [T, Hq, dn + dv], the one rope key broadcast to every head (in_head_stride 0), and the
// attention output's first dv of each D-wide head.
//   out[t * out_token_stride + h * out_head_stride + out_offset + j] = in[t * in_token_stride + h * in_head_stride + in_offset + j]
// for t < T, h < heads, j < width. Elements of `out` outside the slices are left as they are.

struct Params {
  tokens: u32,
  heads: u32,
  width: u32,
  in_token_stride: u32,
  in_head_stride: u32,
  in_offset: u32,
  out_token_stride: u32,
  out_head_stride: u32,
  out_offset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let index = (wid.x + wid.y * nwg.x) * WORKGROUP_SIZE + lid; // over [T, heads, width]
  if (index >= params.tokens * params.heads * params.width) { return; }
  let j = index % params.width;
  let h = (index / params.width) % params.heads;
  let t = index / (params.width * params.heads);
  let source = t * params.in_token_stride + h * params.in_head_stride + params.in_offset + j;
  dst[t * params.out_token_stride + h * params.out_head_stride + params.out_offset + j] = src[source];
}
