// The tile of a grouped expert GEMM workgroup (moe/expert_gate_up, moe/expert_down; included after
// nn/gemm_tile.wgsl). Gathered: tile slot `slot` of the list moe/dispatch_plan made, as (expert, first row, end of
// that expert's rows); a slot past the list's end gets an empty range, and its workgroup returns at once (the grid
// is sized for the worst case, ceil(T*K / 64) + E slots). Dense (GATHERED = false): expert 0, rows 64 slot ..
// of `params.rows`. Each including kernel declares the bindings `tiles` and `offsets`, `params.rows` and the
// override GATHERED. The result is workgroup-uniform, so the kernel may return on it before its barriers.

var<workgroup> tile_rows: vec3u; // (expert, first row, end row)

fn grouped_tile(slot: u32, lid: u32) -> vec3u {
  if (lid == 0u) {
    if (!GATHERED) {
      tile_rows = vec3u(0u, slot * TILE_M, params.rows);
    } else if (slot < tiles[0]) {
      let expert = tiles[1u + 2u * slot];
      tile_rows = vec3u(expert, tiles[2u + 2u * slot], offsets[expert + 1u]);
    } else {
      tile_rows = vec3u(0u, 0u, 0u);
    }
  }
  return workgroupUniformLoad(&tile_rows);
}
