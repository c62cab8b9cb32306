// Token embedding (Mixtral: no multiplier). forward: x[t, :] = embed[ids[t], :].
// backward: d_embed[v, :] = sum of dx[t, :] over the positions t with ids[t] = v, read from `order` (positions
// sorted by token id, ascending position within an id) and `starts` [V + 1] (prefix counts): each output row is
// one sequential sum in a fixed order, no atomics, so the gradient is bit-for-bit reproducible.

struct Params {
  tokens: u32, // T
  hidden: u32, // H
  vocab: u32,  // V
  embed_offset: u32, // element offset of embed [V, H] in `table`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;     // [T]    forward / [T] order (backward)
@group(0) @binding(2) var<storage, read> starts: array<u32>;  // [V + 1] (backward; forward ignores it)
@group(0) @binding(3) var<storage, read> source: array<f32>;  // embed table (forward) or dx [T, H] (backward)
@group(0) @binding(4) var<storage, read_write> dest: array<f32>; // x [T, H] (forward) or grads (backward)

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let h = gid.x;
  let t = gid.y + gid.z * nwg.y;
  if (h >= params.hidden || t >= params.tokens) { return; }
  dest[t * params.hidden + h] = source[params.embed_offset + ids[t] * params.hidden + h];
}

@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let h = gid.x;
  let v = gid.y + gid.z * nwg.y;
  if (h >= params.hidden || v >= params.vocab) { return; }
  var sum = 0.0;
  for (var i = starts[v]; i < starts[v + 1u]; i++) {
    sum += source[ids[i] * params.hidden + h];
  }
  dest[params.embed_offset + v * params.hidden + h] = sum;
}
