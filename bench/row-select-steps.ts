/**
 * Search steps of prune/row_select's keys-in-registers way (JSON on stdout), simulated on the CPU over the rows of
 * bench/prune-select.ts (the same seeded weights, statistic and keys as the CPU reference scores them), with the
 * first step's digits over [smallest, largest key] and from FIRST_STEP_SPAN below the largest (what the kernel does
 * for score methods; shaders/prune/row_select.wgsl). Each search step costs every invocation a pass over its keys
 * and the workgroup a fold and 4 barriers, so the mean is the kernel's main lever besides the loads.
 *   node --import tsx bench/row-select-steps.ts [--rows 256] [--cols 4096] [--sparsity 0.5]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { WeightDtype } from '../src/engine/model/spec.ts';
import { decodeWeights, encodeWeights } from '../src/engine/prune/packing.ts';
import { scoreKeysReference } from '../src/engine/reference/prune/sorted-masks.ts';
import { columnFactors } from '../src/engine/prune/scores.ts';
import { UNSTRUCTURED, type MaskMethod } from '../src/engine/prune/settings.ts';
import { createRng } from '../src/engine/random.ts';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '256' }, cols: { type: 'string', default: '4096' }, sparsity: { type: 'string', default: '0.5' } },
});
const [rows, cols, sparsity] = [Number(values.rows), Number(values.cols), Number(values.sparsity)];

/** FIRST_STEP_SPAN, read from the kernel (its one definition). */
const kernelSource = readFileSync(new URL('../shaders/prune/row_select.wgsl', import.meta.url), 'utf8');
const FIRST_STEP_SPAN = Number(/const FIRST_STEP_SPAN: u32 = (0x[0-9a-f]+)u;/.exec(kernelSource)?.[1]);
if (!Number.isInteger(FIRST_STEP_SPAN)) throw new Error('FIRST_STEP_SPAN not found in shaders/prune/row_select.wgsl');

/**
 * Steps until the k-th smallest key is exact or its digit is pruned whole, as select_row_in_registers runs them:
 * candidates in [floor, hi], 16 digits of 2^shift over [lo, hi] (digit 0 also below lo), clipped to the candidates.
 */
function searchSteps(keys: Uint32Array, k: number, clipFirst: boolean): number {
  let floor = 0xffffffff;
  let hi = 0;
  for (const key of keys) [floor, hi] = [Math.min(floor, key), Math.max(hi, key)];
  let below = 0;
  let steps = 0;
  while (floor !== hi) {
    const lo = clipFirst && steps === 0 ? Math.max(floor, hi - Math.min(hi, FIRST_STEP_SPAN)) : floor;
    steps++;
    const span = hi - lo;
    const bits = 32 - Math.clz32(span);
    const shift = bits > 4 ? bits - 4 : 0;
    const counts = new Array<number>(16).fill(0);
    let [low, high] = [0xffffffff, 0];
    for (const key of keys) {
      if (key < floor || key > hi) continue;
      counts[Math.floor((Math.max(key, lo) - lo) / 2 ** shift)]++;
      [low, high] = [Math.min(low, key), Math.max(high, key)];
    }
    const rank = k - below;
    let before = 0;
    let digit = 0;
    while (rank > before + counts[digit]) before += counts[digit++];
    if (rank - before === counts[digit]) break;
    const digitLo = digit === 0 ? low : Math.max(lo + digit * 2 ** shift, low);
    const digitHi = Math.min(lo + Math.min(digit * 2 ** shift + 2 ** shift - 1, span), high);
    [floor, hi, below] = [digitLo, digitHi, below + before];
  }
  return steps;
}

// bench/prune-select.ts's matrix and statistic (the same generator calls), its first `rows` rows.
const rng = createRng(42);
const weights = Float32Array.from({ length: rows * cols }, () => rng.normal() / Math.sqrt(cols));
const statistic = Float32Array.from({ length: cols }, () => (rng.next() < 0.02 ? 0 : rng.next() * 100));
const factors = columnFactors(statistic, 'bench statistic');
const k = Math.floor(cols * sparsity);
const results = [];
for (const dtype of ['f16', 'f32'] as WeightDtype[]) {
  const stored = decodeWeights(encodeWeights(weights, dtype), dtype, rows * cols);
  for (const method of ['magnitude', 'wanda'] as MaskMethod[]) {
    const keys = scoreKeysReference(
      { method, pattern: UNSTRUCTURED, group: 'row', sparsity, seed: 0 },
      { label: 'bench', rows, cols, weights: stored, columnFactors: factors },
      0,
    );
    const mean = (clip: boolean) => {
      let total = 0;
      for (let r = 0; r < rows; r++) total += searchSteps(keys.subarray(r * cols, (r + 1) * cols), k, clip);
      return +(total / rows).toFixed(2);
    };
    results.push({ dtype, method, stepsFromSmallest: mean(false), stepsFromSpan: mean(true) });
  }
}
console.log(JSON.stringify({ bench: 'row-select-steps', rows, cols, sparsity, firstStepSpan: FIRST_STEP_SPAN, results }, null, 2));
