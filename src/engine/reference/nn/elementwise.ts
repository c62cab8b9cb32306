/** CPU references for elementwise kernels (the oracle for their GPU tests). */

/** out = x + multiplier * branch, computed in f64 and stored as f32 like the GPU result. */
export function residualAddReference(x: Float32Array, branch: Float32Array, multiplier = 1): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + multiplier * branch[i];
  return out;
}
