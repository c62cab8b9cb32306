/**
 * `moe-lab calibrate --model DIR (--ids IDS.json | --text FILE [--samples N] [--seq-len L] [--seed S])
 *  [--mode dense|sequential <prune flags>] --out STATS.safetensors [--masks-out FILE] [--batch-tokens N] [--json]`
 * Calibration statistics on the GPU (Node + Dawn), written as the contract's safetensors file (docs/architecture.md;
 * names in src/engine/calibration/stats.ts). --ids: one window (a list of ids) or several of one length (a list
 * of lists). --text: the model's tokenizer encodes the whole file once without special tokens, then N windows of
 * L tokens start at seeded random offsets (src/engine/calibration/sampling.ts, docs/calibration.md); --samples,
 * --seq-len and --seed default to the page's (the settings vocabulary's), --seq-len clamped to the model's context.
 * --mode sequential measures layer l through layers < l already pruned, so it takes the prune flags
 * (prune-options.ts) and runs the pruning pipeline; --masks-out also writes the masks it made (masks.safetensors).
 */
import { writeFile } from 'node:fs/promises';
import { MIN_EXPERT_TOKENS } from '../../engine/calibration/expert-criteria.ts';
import { statsToSafetensors, type CalibrationStats } from '../../engine/calibration/stats.ts';
import { masksToSafetensors } from '../../engine/prune/masks-file.ts';
import { DEFAULT_TOKENS_PER_BATCH } from '../../gpu/calibration/calibrate.ts';
import { parseFlags, UsageError } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { layerSummary } from '../../lab/calibration.ts';
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
  settingsFromFlags,
} from './prune-options.ts';

export const calibrateCommand: Command = {
  name: 'calibrate',
  summary: 'calibration statistics (per-expert input norms, routing, router health) on the GPU, as safetensors',
  usage:
    `calibrate --model DIR (--ids IDS.json | --text FILE [--samples N] [--seq-len L] [--seed S]) [${MODE_USAGE} ` +
    `${PRUNE_USAGE}] --out STATS.safetensors [--masks-out MASKS.safetensors] [--batch-tokens N] [--json]`,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        mode: { type: 'string' },
        out: { type: 'string' },
        'masks-out': { type: 'string' },
        json: { type: 'boolean' },
        ...CALIBRATION_FLAGS,
        ...PRUNE_FLAGS,
      },
      'calibrate',
    );
    const modelDir = flags.string('model');
    const out = flags.string('out');
    const idsFile = flags.optionalString('ids');
    const textFile = flags.optionalString('text');
    if ((idsFile === undefined) === (textFile === undefined)) throw new UsageError('calibrate: give exactly one of --ids and --text');
    const mode = modeFromFlags(flags, 'calibrate');
    // In sequential mode --seed also seeds the random pruning method; with --ids it only draws nothing.
    if (idsFile && ['samples', 'seq-len', ...(mode === 'dense' ? ['seed'] : [])].some((f) => flags.values[f] !== undefined)) {
      throw new UsageError('calibrate: --samples, --seq-len and --seed draw windows from --text; with --ids the file gives the windows');
    }
    const pruneFlags = Object.keys(PRUNE_FLAGS).filter((f) => flags.values[f] !== undefined);
    if (mode === 'sequential' && flags.optionalString('method') === undefined) {
      throw new UsageError(
        'calibrate: --mode sequential prunes each layer before the next one is measured, so it needs a pruning method: ' +
          'give the prune flags (--method M --sparsity S ..., as moe-lab prune)',
      );
    }
    if (mode === 'dense' && pruneFlags.length) throw new UsageError(`calibrate: --${pruneFlags[0]} only applies with --mode sequential`);
    if (mode === 'dense' && flags.optionalString('masks-out') !== undefined) throw new UsageError('calibrate: --masks-out only applies with --mode sequential');
    const settings = mode === 'sequential' ? settingsFromFlags(flags, mode, 'calibrate') : null;
    const tokensPerBatch = flags.number('batch-tokens', DEFAULT_TOKENS_PER_BATCH, { min: 1, integer: true });

    const folder = await directoryFolder(modelDir);
    // The lab service the page's worker hosts: the model loads and runs through it (src/lab/token-runs.ts).
    const lab = nodeLab('moe-lab calibrate');
    try {
      const started = performance.now();
      const { spec, contentHash: modelHash } = await lab.loadFolder(folder);
      const calibration = (await calibrationFromFlags(flags, lab.checkpoint(), modelDir, 'calibrate'))!;
      const { windows } = calibration;
      const metadata: Record<string, string> = { model_hash: modelHash, ...calibration.metadata };
      const windowLength = windows[0].length;
      if (!spec.moeLayers.some(Boolean)) throw new UsageError(`calibrate: ${modelDir} has no MoE layer to calibrate`);
      let stats: CalibrationStats;
      if (settings) {
        // Sequential: the pruning pipeline measures layer l through layers < l pruned with these settings.
        const run = await asUsageErrors('calibrate', () => lab.pruneWithSettings(settings, { windows, info: calibration.info, tokensPerBatch, measure: true }));
        stats = run.stats!;
        const masksOut = flags.optionalString('masks-out');
        if (masksOut) await writeFile(masksOut, masksToSafetensors(spec, await lab.readMasks(), { model_hash: modelHash, method: settings.method }));
        Object.assign(metadata, { method: settings.method, sparsity: String(run.report.achieved.overall.sparsity) });
      } else {
        stats = await lab.calibrateWindows(windows, { mode, tokensPerBatch });
      }
      stats.metadata = { ...metadata, windows: String(windows.length), window_length: String(windowLength) };
      await writeFile(out, statsToSafetensors(stats));
      const seconds = (performance.now() - started) / 1000;
      const layers = stats.layers.flatMap((s, layer) => {
        if (!s) return [];
        const summary = layerSummary(layer, s, stats.tokens);
        return [
          {
            layer,
            coefficientOfVariation: summary.coefficientOfVariation,
            maxOverMean: summary.maxOverMean,
            lowLoadExperts: summary.lowLoadExperts,
            expertTokens: Array.from(s.expertTokens),
            lowCoverageExperts: summary.lowCoverageExperts,
            expertOutputAbsMax: summary.expertOutputAbsMax,
            superExperts: summary.superExperts,
            criteria: summary.criteria,
          },
        ];
      });
      // Coverage (docs/calibration.md): an expert reached by too few tokens has unreliable statistics.
      for (const l of layers) {
        if (l.lowCoverageExperts.length) {
          const counts = l.lowCoverageExperts.map((e) => `${e} (${l.expertTokens[e]})`).join(', ');
          io.err(
            `moe-lab calibrate: warning: layer ${l.layer}: experts ${counts} got fewer than ${MIN_EXPERT_TOKENS} calibration tokens; their statistics are unreliable (use more or other text)`,
          );
        }
      }
      if (flags.flag('json')) {
        io.out(JSON.stringify({ out, mode, tokens: stats.tokens, windows: windows.length, windowLength, seconds, layers }));
      } else {
        const worst = layers.reduce((m, l) => Math.max(m, l.maxOverMean), 0);
        io.out(
          `${out}: ${mode} statistics of ${stats.tokens} tokens (${windows.length} windows of ${windowLength}), ${layers.length} MoE layers, busiest expert ${worst.toFixed(2)}x the mean load, ${seconds.toFixed(1)} s`,
        );
      }
    } finally {
      await lab.dispose();
    }
    return 0;
  },
};
