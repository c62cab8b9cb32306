/**
 * `moe-lab prune --model DIR --method M --sparsity S [--pattern unstructured|N:M] [--group row|matrix|layer]
 *  [--targets experts,attention,shared] [--experts-drop R --expert-criterion frequency|gate|reap]
 *  [--allocation uniform|owl] [--ids IDS.json | --text FILE [--samples N] [--seq-len L] [--seed S] | --stats FILE]
 *  [--mode dense|sequential] [--blocksize B --damp D] --out DIR [--masks-only] [--json]`
 * Runs the pruning pipeline on the GPU (src/gpu/prune/pipeline.ts) and writes to DIR the pruned Hugging Face
 * folder (same names, layout and dtype; zeros where pruned; dropped experts removed), masks.safetensors and
 * prune-report.json (src/engine/export). magnitude and random need no calibration; the others, expert dropping
 * and OWL on Wanda-like scores need --text, --ids or a statistics file (sparsegpt and sequential mode: windows).
 */
import { mkdir, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { owlNeedsStatistics } from '../../engine/prune/pipeline-plan.ts';
import { checkPipelineSettings, needsCalibration } from '../../engine/prune/pipeline-settings.ts';
import { parseFlags, UsageError } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { nodeLab } from '../node-lab.ts';
import type { Command } from './command.ts';
import {
  asUsageErrors,
  CALIBRATION_FLAGS,
  calibrationFromFlags,
  MODE_USAGE,
  modeFromFlags,
  PRUNE_FLAGS,
  PRUNE_USAGE,
  readStatsFile,
  settingsFromFlags,
} from './prune-options.ts';

/** Writes one file of the export from its chunks. */
export function folderWriter(dir: string): (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void> {
  return async (path, chunks) => {
    const handle = await open(join(dir, path), 'w');
    try {
      for await (const chunk of chunks) await handle.write(chunk);
    } finally {
      await handle.close();
    }
  };
}

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'prune a model on the GPU and write the pruned Hugging Face folder, masks.safetensors and prune-report.json',
  usage:
    `prune --model DIR ${PRUNE_USAGE} [--ids IDS.json | --text FILE [--samples N] [--seq-len L] [--seed S] | --stats STATS.safetensors] ` +
    `[${MODE_USAGE}] [--batch-tokens N] --out DIR [--masks-only] [--json]`,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        out: { type: 'string' },
        mode: { type: 'string' },
        stats: { type: 'string' },
        'masks-only': { type: 'boolean' },
        json: { type: 'boolean' },
        ...CALIBRATION_FLAGS,
        ...PRUNE_FLAGS,
      },
      'prune',
    );
    const modelDir = flags.string('model');
    const out = flags.string('out');
    const mode = modeFromFlags(flags, 'prune');
    const settings = settingsFromFlags(flags, mode, 'prune');
    if (resolve(out) === resolve(modelDir))
      throw new UsageError('prune: --out must be another folder than --model (the input is read while the output is written)');
    const statsFile = flags.optionalString('stats');
    if (statsFile && (flags.optionalString('ids') ?? flags.optionalString('text')) !== undefined) {
      throw new UsageError('prune: give either a calibration set (--ids / --text) or a statistics file (--stats), not both');
    }
    if (statsFile && mode === 'sequential')
      throw new UsageError('prune: --mode sequential measures each layer through the pruned ones; a statistics file cannot stand in (give --text or --ids)');
    const tokensPerBatch = flags.optionalNumber('batch-tokens', { min: 1, integer: true });

    const folder = await directoryFolder(modelDir);
    // The lab service the page's worker hosts: the model loads, prunes and exports through it (src/lab/token-runs.ts).
    const lab = nodeLab('moe-lab prune');
    try {
      const started = performance.now();
      const { spec, contentHash } = await lab.loadFolder(folder);
      await asUsageErrors('prune', async () => checkPipelineSettings(settings, spec));
      const checkpoint = lab.checkpoint();
      const calibration = await calibrationFromFlags(flags, checkpoint, modelDir, 'prune');
      const stats = statsFile ? await readStatsFile(statsFile, checkpoint, contentHash) : undefined;
      if ((needsCalibration(settings) || owlNeedsStatistics(settings)) && !calibration && !stats) {
        throw new UsageError(
          `prune: ${settings.method}${settings.expertsDrop ? ' with --experts-drop' : ''}${settings.allocation === 'owl' ? ' with OWL' : ''} needs calibration: give --text FILE, --ids IDS.json or --stats STATS.safetensors`,
        );
      }
      await asUsageErrors('prune', () =>
        lab.pruneWithSettings(settings, {
          windows: calibration?.windows,
          stats,
          info: calibration?.info ?? (statsFile ? { source: `stats:${statsFile}` } : undefined),
          tokensPerBatch,
        }),
      );
      await mkdir(out, { recursive: true });
      const report = await lab.writePruned(modelDir, folderWriter(out), { model: !flags.flag('masks-only') });
      const seconds = (performance.now() - started) / 1000;
      const { overall, layers } = report.achieved;
      if (flags.flag('json')) {
        io.out(
          JSON.stringify({
            out,
            method: settings.method,
            sparsity: overall.sparsity,
            weights: overall.weights,
            pruned: overall.pruned,
            layers: layers.map((l) => ({ layer: l.layer, target: l.target, sparsity: l.sparsity, droppedExperts: l.droppedExperts })),
            structure: settings.structure,
            ...(report.neurons ? { ffn: report.neurons.ffn, keptFfn: report.neurons.keptFfn } : {}),
            ...(report.accounting ? { accounting: report.accounting } : {}),
            files: report.files.map((f) => f.path),
            seconds,
          }),
        );
      } else {
        const dropped = layers.some((l) => l.droppedExperts.length) ? `, ${settings.expertsDrop} experts dropped per layer` : '';
        const neurons = report.neurons ? `, expert FFN ${report.neurons.ffn} -> ${report.neurons.keptFfn} neurons` : '';
        const acc = report.accounting;
        const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
        const bytes = acc
          ? `; weights on disk ${mib(acc.dense.diskBytes)} -> ${mib(acc.pruned.diskBytes)}, read per token ${mib(acc.dense.readPerTokenBytes)} -> ${mib(acc.pruned.readPerTokenBytes)}`
          : '';
        io.out(
          `${out}: ${settings.method} pruned ${(100 * overall.sparsity).toFixed(2)}% of ${overall.weights} weights${dropped}${neurons}${bytes}; ${report.files.length + 1} files, ${seconds.toFixed(1)} s`,
        );
      }
    } finally {
      await lab.dispose();
    }
    return 0;
  },
};
