/**
 * CPU reference of shaders/nn/head_copy.wgsl: copies a `width`-wide slice of each head (see the shader), in place
 * into `dst`; elements outside the slices are untouched.
 */
export interface HeadCopyLayout {
  tokens: number;
  heads: number;
  width: number;
  inTokenStride: number;
  inHeadStride: number;
  inOffset: number;
  outTokenStride: number;
  outHeadStride: number;
  outOffset: number;
}

export function headCopy(src: ArrayLike<number>, dst: Float64Array | Float32Array, a: HeadCopyLayout): void {
  for (let t = 0; t < a.tokens; t++) {
    for (let h = 0; h < a.heads; h++) {
      for (let j = 0; j < a.width; j++) {
        dst[t * a.outTokenStride + h * a.outHeadStride + a.outOffset + j] = src[t * a.inTokenStride + h * a.inHeadStride + a.inOffset + j];
      }
    }
  }
}
