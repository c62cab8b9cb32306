/**
 * CPU references (f64) of shaders/train/moe_rows.wgsl's forward functions, which move rows between token order
 * [T, H] and expert-row order [R, H] through the maps of moe-dispatch.ts (row slotRow[t K + k] holds token t's k-th
 * choice). The backward entries are checked against central finite differences of these: gate_grad and the g-scaled
 * gather of dL/dh are the gradients of combineRows for the gates and the expert rows, input_grad the gradient of
 * dRows . gatherRows(x) + dL/dr . linear(x, router) for x.
 */

/** rows [R, H]: row slotRow[t K + k] = x[t] (times that assignment's gate g[t, k] when `gates` is given); other rows 0. */
export function gatherRows(
  x: ArrayLike<number>,
  slotRow: ArrayLike<number>,
  topK: number,
  width: number,
  rows: number,
  gates: ArrayLike<number> | null = null,
): Float64Array {
  const out = new Float64Array(rows * width);
  for (let a = 0; a < slotRow.length; a++) {
    const t = Math.floor(a / topK);
    const scale = gates ? gates[a] : 1;
    for (let h = 0; h < width; h++) out[slotRow[a] * width + h] = x[t * width + h] * scale;
  }
  return out;
}

/** out [T, H] = residual + sum_k g[t, k] * rows[slotRow[t K + k]]: Mixtral's gate-weighted sum of the expert outputs. */
export function combineRows(
  residual: ArrayLike<number>,
  gates: ArrayLike<number>,
  rows: ArrayLike<number>,
  slotRow: ArrayLike<number>,
  topK: number,
  width: number,
): Float64Array {
  const out = Float64Array.from(residual);
  for (let a = 0; a < slotRow.length; a++) {
    const t = Math.floor(a / topK);
    for (let h = 0; h < width; h++) out[t * width + h] += gates[a] * rows[slotRow[a] * width + h];
  }
  return out;
}
