/** `moe-lab info --model DIR [--json]`: what a checkpoint is, after validating every header against its file. */
import { JSON_LIMITS, openCheckpoint, readJson, SHARD_INDEX, shardsOfIndex, type ModelFolder } from '../../engine/model/checkpoint.ts';
import { normalizeConfig } from '../../engine/model/config.ts';

import { countParameters } from '../../engine/model/spec.ts';
import { parseFlags } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import type { Command } from './command.ts';
import { ModelFileError } from '../../engine/errors.ts';

export const infoCommand: Command = {
  name: 'info',
  summary: 'architecture, size and parameter counts of a model folder',
  usage: 'info --model DIR [--json]',
  async run(argv, io) {
    const flags = parseFlags(argv, { model: { type: 'string' }, json: { type: 'boolean' } }, 'info');
    const folder = await directoryFolder(flags.string('model'));
    // A folder with config.json and the shard index but none of the shards (a published model's metadata alone):
    // the spec and its parameter counts, without validating weights that are not there.
    const checkpoint = (await weightsAbsent(folder)) ? await configOnly(folder) : await openCheckpoint(folder);
    const { spec } = checkpoint;
    const params = countParameters(spec);
    const report = {
      model: flags.string('model'),
      architecture: spec.architecture,
      layers: spec.numLayers,
      moeLayers: spec.moeLayers.filter(Boolean).length,
      experts: spec.numExperts,
      topK: spec.topK,
      hidden: spec.hiddenSize,
      expertFfn: spec.expertFfnSize,
      heads: spec.numHeads,
      kvHeads: spec.numKvHeads,
      headDim: spec.headDim,
      vocab: spec.vocabSize,
      sharedExpert: spec.sharedExpert,
      routing: spec.routing,
      dtype: spec.dtype,
      parameters: params,
      files: checkpoint.files,
      weights: checkpoint.files.length > 0,
      tokenizer: checkpoint.tokenizerJson !== null,
    };
    if (flags.flag('json')) {
      io.out(JSON.stringify(report, null, 2));
      return 0;
    }
    const m = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n.toLocaleString('en-US'));
    io.out(
      [
        `${report.model}: ${spec.architecture}, ${spec.numLayers} layers (${report.moeLayers} MoE), ${spec.numExperts} experts, top-${spec.topK}`,
        `hidden ${spec.hiddenSize}, expert FFN ${spec.expertFfnSize}, heads ${spec.numHeads}/${spec.numKvHeads} x ${spec.headDim}, vocab ${spec.vocabSize}` +
          (spec.sharedExpert ? `, shared expert FFN ${spec.sharedExpert.ffnSize}` : ''),
        `parameters: ${m(params.total)} total, ${m(params.expert)} in experts (${m(params.perExpert)} each), ${m(params.active)} active per token`,
        `dtype ${spec.dtype}; files: ${report.weights ? checkpoint.files.join(', ') : `none (${SHARD_INDEX} lists shards that are absent)`}; tokenizer.json ${report.tokenizer ? 'present' : 'absent'}`,
      ].join('\n'),
    );
    return 0;
  },
};

/** True when the folder has a shard index but neither model.safetensors nor any shard it lists. */
async function weightsAbsent(folder: ModelFolder): Promise<boolean> {
  const index = await folder.open(SHARD_INDEX);
  if (!index || (await folder.open('model.safetensors'))) return false;
  const shards = shardsOfIndex(index.name, await readJson(index, JSON_LIMITS.index));
  for (const shard of shards.keys()) if (await folder.open(shard)) return false;
  return true;
}

async function configOnly(folder: ModelFolder): Promise<{ spec: ReturnType<typeof normalizeConfig>; files: string[]; tokenizerJson: null }> {
  const source = await folder.open('config.json');
  if (!source) throw new ModelFileError(`${folder.name}/config.json`, 'missing-file', 'file not found (every Hugging Face model folder has one)');
  return { spec: normalizeConfig(source.name, await readJson(source)), files: [], tokenizerJson: null };
}
