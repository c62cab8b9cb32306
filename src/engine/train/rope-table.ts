/**
 * cos/sin table [S, D/2, 2] for shaders/train/rope.wgsl, computed as transformers does for Mixtral: inv_freq_i =
 * 1 / theta^(2i / D) rounded to f32, angle = f32(pos * inv_freq_i), then cos and sin of that f32 angle.
 */
export function ropeTable(window: number, headDim: number, theta: number): Float32Array {
  const half = headDim / 2;
  const table = new Float32Array(window * half * 2);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
    for (let pos = 0; pos < window; pos++) {
      const angle = Math.fround(pos * invFreq);
      table[(pos * half + i) * 2] = Math.cos(angle);
      table[(pos * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}
