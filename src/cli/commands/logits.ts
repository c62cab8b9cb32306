/**
 * `moe-lab logits --model DIR --ids IDS.json --out FILE.safetensors [--json]`: one sequence through the GPU forward;
 * writes `logits` [T, V] f32 and `layers.{i}.router_logits` [T, E] f32 for every MoE layer (docs/architecture.md).
 */
import { writeFile } from 'node:fs/promises';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { parseFlags } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { nodeLab } from '../node-lab.ts';
import type { Command } from './command.ts';
import { readIdsFile } from './ppl.ts';

const bytesOf = (values: Float32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

export const logitsCommand: Command = {
  name: 'logits',
  summary: 'logits and router logits of one token sequence, written as safetensors',
  usage: 'logits --model DIR --ids IDS.json --out FILE.safetensors [--json]',
  async run(argv, io) {
    const flags = parseFlags(argv, { model: { type: 'string' }, ids: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } }, 'logits');
    const modelDir = flags.string('model');
    const idsFile = flags.string('ids');
    const outFile = flags.string('out');
    const folder = await directoryFolder(modelDir);
    const lab = nodeLab('moe-lab logits');
    let spec, ids, result;
    try {
      ({ spec } = await lab.loadFolder(folder));
      ids = await readIdsFile(idsFile, spec);
      result = await lab.logitsOfIds(ids);
    } finally {
      await lab.dispose();
    }
    const T = ids.length;
    const tensors = [{ name: 'logits', dtype: 'F32' as const, shape: [T, spec.vocabSize], data: bytesOf(result.logits) }];
    const moeLayers: number[] = [];
    result.routerLogits.forEach((routerLogits, l) => {
      if (!routerLogits) return;
      moeLayers.push(l);
      tensors.push({ name: `layers.${l}.router_logits`, dtype: 'F32', shape: [T, spec.numExperts], data: bytesOf(routerLogits) });
    });
    await writeFile(outFile, writeSafetensors(tensors, { format: 'pt', producer: 'moe-lab logits' }));
    if (flags.flag('json')) io.out(JSON.stringify({ out: outFile, tokens: T, vocab: spec.vocabSize, routerLayers: moeLayers }));
    else io.out(`wrote ${outFile}: logits [${T}, ${spec.vocabSize}] and router logits of ${moeLayers.length} MoE layers`);
    return 0;
  },
};
