/** `moe-lab info --model DIR [--json]`: what a checkpoint is, after validating every header against its file. */
import { openCheckpoint } from '../../engine/model/checkpoint.ts';
import { countParameters } from '../../engine/model/spec.ts';
import { parseFlags } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import type { Command } from './command.ts';

export const infoCommand: Command = {
  name: 'info',
  summary: 'architecture, size and parameter counts of a model folder',
  usage: 'info --model DIR [--json]',
  async run(argv, io) {
    const flags = parseFlags(argv, { model: { type: 'string' }, json: { type: 'boolean' } }, 'info');
    const checkpoint = await openCheckpoint(await directoryFolder(flags.string('model')));
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
        `dtype ${spec.dtype}; files: ${checkpoint.files.join(', ')}; tokenizer.json ${report.tokenizer ? 'present' : 'absent'}`,
      ].join('\n'),
    );
    return 0;
  },
};
