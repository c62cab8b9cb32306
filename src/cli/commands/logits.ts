/**
 * `moe-lab logits --model DIR --ids IDS.json --out FILE.safetensors [--json]`: one sequence through the GPU forward;
 * writes `logits` [T, V] f32 and `layers.{i}.router_logits` [T, E] f32 for every MoE layer (docs/architecture.md).
 */
import { writeFile } from 'node:fs/promises';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { openCheckpoint } from '../../engine/model/checkpoint.ts';
import { GpuForward } from '../../gpu/model/forward.ts';
import { GpuModel } from '../../gpu/model/gpu-model.ts';
import { createNodeGpuContext } from '../../gpu/node.ts';
import { parseFlags } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
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
    const checkpoint = await openCheckpoint(await directoryFolder(modelDir));
    const { spec } = checkpoint;
    const ids = await readIdsFile(idsFile, checkpoint);
    const T = ids.length;

    const gpu = await createNodeGpuContext({ label: 'moe-lab logits' });
    let result;
    try {
      const model = await GpuModel.upload(gpu, checkpoint);
      const forward = new GpuForward(model, 1, T);
      try {
        result = await forward.run({ ids, logits: true, taps: ['routerLogits'] });
      } finally {
        forward.destroy();
        model.destroy();
      }
    } finally {
      gpu.destroy();
    }
    const tensors = [{ name: 'logits', dtype: 'F32' as const, shape: [T, spec.vocabSize], data: bytesOf(result.logits!) }];
    const moeLayers: number[] = [];
    result.layers.forEach((taps, l) => {
      if (!taps.routerLogits) return;
      moeLayers.push(l);
      tensors.push({ name: `layers.${l}.router_logits`, dtype: 'F32', shape: [T, spec.numExperts], data: bytesOf(taps.routerLogits) });
    });
    await writeFile(outFile, writeSafetensors(tensors, { format: 'pt', producer: 'moe-lab logits' }));
    if (flags.flag('json')) io.out(JSON.stringify({ out: outFile, tokens: T, vocab: spec.vocabSize, routerLayers: moeLayers }));
    else io.out(`wrote ${outFile}: logits [${T}, ${spec.vocabSize}] and router logits of ${moeLayers.length} MoE layers`);
    return 0;
  },
};
