/**
 * Host for shaders/sparsegpt/triangular_inverse.wgsl: block row i of L^-1.
 * CPU reference: `inverseHessianFactor` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/triangular_inverse.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const triangularInverseKernel = defineKernel({ name: 'sparsegpt/triangular_inverse', source });

/** factor: L [F, Cp, Cp]; inverse: M [F, Cp, Cp] (block rows < step already computed). */
export function recordTriangularInverse(rec: Recorder, factor: BufferBinding, inverse: BufferBinding, factors: number, padded: number, step: number): void {
  rec.dispatch(triangularInverseKernel, {
    bindings: { factor, inverse },
    params: { padded, step },
    workgroups: [step + 1, factors],
  });
}
