/**
 * `moe-lab compare-masks A.safetensors B.safetensors [--model DIR] [--json]`: where two prunings of one model
 * disagree (src/engine/prune/mask-compare.ts): overall, per layer, per matrix and — with --model, or when the files
 * drop experts and so tell E — per routed expert. Disagreement = |P_A xor P_B| / (|P_A| + |P_B|) over the pruned
 * sets, with the plain counts beside it. No GPU is needed.
 */
import { parseArgs } from 'node:util';
import { ModelFileError } from '../../engine/errors.ts';
import { readSafetensorsHeader } from '../../engine/io/safetensors.ts';
import { openCheckpoint } from '../../engine/model/checkpoint.ts';
import { compareMaskSets, masksWithoutModel, sharedShapes, type MaskComparison, type MaskShapes } from '../../engine/prune/mask-compare.ts';
import { canonicalElements } from '../../engine/prune/layer-plan.ts';
import { masksFromSafetensors } from '../../engine/prune/masks-file.ts';
import { UsageError } from '../args.ts';
import { directoryFolder, FileByteSource } from '../fs-folder.ts';
import type { Command } from './command.ts';

const percent = (x: number) => `${(100 * x).toFixed(2)}%`;

async function readWhole(file: string) {
  const source = new FileByteSource(file);
  const header = await readSafetensorsHeader(source, { extraDtypes: ['U8'] });
  return { header, bytes: await source.read(0, await source.size()) };
}

export const compareMasksCommand: Command = {
  name: 'compare-masks',
  summary: 'where two masks.safetensors of one model disagree: overall, per layer, matrix and expert',
  usage: 'compare-masks A.safetensors B.safetensors [--model DIR] [--json]',
  async run(argv, io) {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: { model: { type: 'string' }, json: { type: 'boolean' } }, strict: true, allowPositionals: true });
    } catch (error) {
      throw new UsageError(`compare-masks: ${(error as Error).message.split('\n')[0]}`);
    }
    const files = parsed.positionals;
    if (files.length !== 2) throw new UsageError(`compare-masks: give exactly two masks files (got ${files.length})`);
    const [fileA, fileB] = files;
    const [a, b] = await Promise.all(files.map(readWhole));
    const rawA = masksWithoutModel(a.header, a.bytes);
    const rawB = masksWithoutModel(b.header, b.bytes);
    let comparison: MaskComparison;
    try {
      let shapes: MaskShapes = sharedShapes(rawA, rawB, [fileA, fileB]);
      let [masksA, masksB] = [rawA.masks, rawB.masks];
      if (parsed.values.model) {
        // With the model every tensor is checked against it and experts are known even when none was dropped.
        const { spec } = await openCheckpoint(await directoryFolder(parsed.values.model));
        masksA = masksFromSafetensors(spec, a.header, a.bytes);
        masksB = masksFromSafetensors(spec, b.header, b.bytes);
        shapes = { elements: (_, key) => canonicalElements(spec, key), numExperts: spec.numExperts };
      }
      comparison = compareMaskSets(masksA, masksB, shapes);
    } catch (error) {
      if (error instanceof RangeError) throw new ModelFileError(fileB, 'shape-mismatch', error.message);
      throw error;
    }
    const report = {
      a: { file: fileA, method: rawA.method },
      b: { file: fileB, method: rawB.method },
      definition: 'disagreement = |prunedA xor prunedB| / (|prunedA| + |prunedB|)',
      ...comparison,
    };
    if (parsed.values.json) {
      io.out(JSON.stringify(report));
      return 0;
    }
    const { overall } = comparison;
    io.out(
      `${rawA.method ?? fileA} vs ${rawB.method ?? fileB}: disagree on ${percent(overall.disagreement)} of pruned weights ` +
        `(${overall.onlyA} pruned only by A, ${overall.onlyB} only by B, ${overall.both} by both, of ${overall.elements})`,
    );
    for (const layer of comparison.layers) {
      const parts = comparison.matrices.filter((m) => m.layer === layer.layer).map((m) => `${m.key} ${percent(m.disagreement)}`);
      io.out(`  layer ${layer.layer}: ${percent(layer.disagreement)} (${parts.join(', ')})`);
    }
    return 0;
  },
};
