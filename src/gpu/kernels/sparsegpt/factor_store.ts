/**
 * Host for shaders/sparsegpt/factor_store.wgsl: U = J M J, the upper Cholesky factor of H^-1.
 * CPU reference: `inverseHessianFactor` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/factor_store.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const factorStoreKernel = defineKernel({ name: 'sparsegpt/factor_store', source });

/** inverse: M [F, Cp, Cp]; factor: U [F, C, C]. */
export function recordFactorStore(rec: Recorder, inverse: BufferBinding, factor: BufferBinding, factors: number, cols: number, padded: number): void {
  rec.dispatch(factorStoreKernel, {
    bindings: { inverse, factor },
    params: { cols, padded, count: cols * cols },
    workgroups: [...grid1d(cols * cols, 256), factors],
  });
}
