// Expert dispatch, step 2 of 3: offsets[e] = rows before expert e in the gathered order (exclusive prefix sum of
// the counts, offsets[E] = routed rows in all) and the tile list of the grouped expert GEMMs: one (expert,
// first row) pair per TILE_ROWS rows of each expert that has tokens, so no workgroup of the grouped dispatch
// works on an empty expert. tiles[0] = number of tiles, then the pairs from tiles[1]. A single thread: E is at
// most a few hundred and the list ceil(T*K / TILE_ROWS) + E long.

struct Params {
  experts: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> counts: array<u32>;        // [E]
@group(0) @binding(2) var<storage, read_write> offsets: array<u32>; // [E + 1]
@group(0) @binding(3) var<storage, read_write> tiles: array<u32>;   // [1 + 2 * max tiles]

override TILE_ROWS: u32 = 64u;

@compute @workgroup_size(1)
fn main() {
  var row = 0u;
  var tile = 0u;
  for (var e = 0u; e < params.experts; e++) {
    offsets[e] = row;
    let count = counts[e];
    for (var first = 0u; first < count; first += TILE_ROWS) {
      tiles[1u + 2u * tile] = e;
      tiles[2u + 2u * tile] = row + first;
      tile++;
    }
    row += count;
  }
  offsets[params.experts] = row;
  tiles[0] = tile;
}
