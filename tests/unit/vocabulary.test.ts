/**
 * The settings vocabulary (src/engine/experiment/vocabulary.ts) is the one source of every setting: the page (the
 * schema's defaults) and the CLI (its flags' defaults) agree, so the same settings give the same masks; the model
 * default is the page's index default; each row is well formed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/args.ts';
import { DEFAULT_DISTILL } from '../../src/engine/distill/settings.ts';
import { CALIBRATION_FLAGS, PRUNE_FLAGS, PRUNE_USAGE, samplingFromFlags, settingsFromFlags } from '../../src/cli/commands/prune-options.ts';
import { defaultExperiment, formatPattern, LIMITS, PRUNE_METHODS, type Experiment } from '../../src/engine/experiment/schema.ts';
import { decodeExperiment, encodeExperiment } from '../../src/engine/experiment/url.ts';
import {
  DEFAULT_EMBEDDED_MODEL,
  readSetting,
  sectionDefaults,
  SETTING_NAMES,
  SETTINGS,
  settingOf,
  validSetting,
  withSetting,
  type Section,
  type Setting,
} from '../../src/engine/experiment/vocabulary.ts';
import { parseEmbeddedIndex } from '../../src/lab/sources.ts';
import { pipelineSettingsOf } from '../../src/lab/prune.ts';
import { pruneRequest } from '../../src/state/requests.ts';

const cli = (argv: string[]) => parseFlags(argv, { ...CALIBRATION_FLAGS, ...PRUNE_FLAGS }, 'prune');

/** A valid value of the row other than its default. */
function otherValue(s: Setting): unknown {
  switch (s.kind) {
    case 'number':
      return s.default === s.max ? s.min : s.integer ? s.default + 1 : Math.min(s.max, s.default + (s.step ?? 0.01));
    case 'choice':
      return s.values.find((v) => v !== s.default);
    case 'subset':
      return s.values.filter((v) => !s.default.includes(v));
    case 'pattern':
      return { kind: 'n:m', n: 2, m: 4 };
    case 'text':
      return { kind: 'corpus', id: 'another-text' };
    case 'switches':
      return [{ layer: '*', expert: 3 }];
  }
}

/** The value as its flag is written. */
function flagText(s: Setting, value: unknown): string {
  if (s.kind === 'subset') return (value as string[]).join(',');
  if (s.kind === 'pattern') return formatPattern(value as Experiment['prune']['pattern']);
  return String(value);
}

describe('settings vocabulary', () => {
  it("the CLI's defaults are the page's: calibration windows and the pruning settings of the default experiment", () => {
    const page = defaultExperiment();
    // A model with a long context: the CLI clamps --seq-len's default only to shorter contexts.
    expect(samplingFromFlags(cli([]), 1 << 20)).toEqual({ samples: page.calibration.samples, seqLen: page.calibration.seqLen, seed: page.calibration.seed });
    expect(samplingFromFlags(cli([]), 100).seqLen).toBe(100);
    const flags = cli(['--method', page.prune.method, '--sparsity', String(page.prune.sparsity)]);
    // The page's request -> the lab service's settings, against the CLI's: the same object, so the same masks.
    expect(settingsFromFlags(flags, page.calibration.mode, 'prune')).toEqual(pipelineSettingsOf(pruneRequest(page)));
    const sparseGpt = defaultExperiment();
    sparseGpt.prune.method = 'sparsegpt';
    expect(settingsFromFlags(cli(['--method', 'sparsegpt', '--sparsity', '0.5']), 'dense', 'prune').sparseGpt).toEqual(
      pipelineSettingsOf(pruneRequest(sparseGpt)).sparseGpt,
    );
  });

  it("moe-lab distill's defaults are the page's Recover settings", () => {
    const page = defaultExperiment().recover;
    expect(page.text).toBeNull();
    const { steps, lr, batch, seed } = DEFAULT_DISTILL;
    expect({ steps, lr, batch, seed }).toEqual({ steps: page.steps, lr: page.lr, batch: page.batch, seed: page.seed });
    expect([SETTINGS.recoverSamples.cli, SETTINGS.recoverSeqLen.cli]).toEqual(['samples', 'seq-len']);
  });

  it("the default model is the page's default in public/models/index.json", () => {
    const index = JSON.parse(readFileSync(new URL('../../public/models/index.json', import.meta.url), 'utf8')) as { id: string; default?: boolean }[];
    expect(index.filter((m) => m.default).map((m) => m.id)).toEqual([DEFAULT_EMBEDDED_MODEL]);
    expect(defaultExperiment().model.id).toBe(DEFAULT_EMBEDDED_MODEL);
  });

  it("each shipped model's lessonExpert is one of its experts, and a bad one names the entry", () => {
    const file = 'models/index.json';
    const index = parseEmbeddedIndex(file, JSON.parse(readFileSync(new URL(`../../public/${file}`, import.meta.url), 'utf8')));
    expect(index.find((m) => m.default)?.lessonExpert).toBeDefined();
    for (const m of index.filter((e) => e.lessonExpert !== undefined)) {
      const config = JSON.parse(readFileSync(new URL(`../../public/${m.path}/config.json`, import.meta.url), 'utf8')) as Record<string, number>;
      expect(m.lessonExpert, m.id).toBeLessThan(config.num_local_experts ?? config.num_experts);
    }
    const entry = { id: 'm', name: 'm', path: 'models/m', description: '' };
    expect(parseEmbeddedIndex(file, [{ ...entry, lessonExpert: 5 }])[0].lessonExpert).toBe(5);
    for (const bad of [-1, 1.5, '3']) {
      expect(() => parseEmbeddedIndex(file, [entry, { ...entry, lessonExpert: bad }])).toThrow(
        /models\/index\.json.*entry 1: lessonExpert must be a non-negative integer/,
      );
    }
  });

  it('every row is well formed, and the derived lists and limits are its values', () => {
    for (const [name, row] of Object.entries(SETTINGS)) {
      expect(row.label, name).not.toBe('');
      expect(row.help, name).not.toBe('');
      if (row.kind === 'number') {
        expect(row.min, name).toBeLessThanOrEqual(row.default);
        expect(row.default, name).toBeLessThanOrEqual(row.max);
        if (row.integer) expect(Number.isInteger(row.default), name).toBe(true);
      } else if (row.kind === 'choice') {
        expect(row.values, name).toContain(row.default);
      } else if (row.kind === 'subset') {
        for (const v of row.default) expect(row.values, name).toContain(v);
      }
    }
    const keys = Object.values(SETTINGS).flatMap((row) => (row.url ? [row.url] : []));
    expect(new Set(keys).size).toBe(keys.length);
    // Flags are unique per command: the Recover rows are `moe-lab distill`'s, the quantize rows (with the calibration
    // flags) `moe-lab quantize`'s, the others calibrate's and prune's.
    const commands: Section[][] = [['recover'], ['calibration', 'quantize'], ['calibration', 'prune', 'evaluation', 'benchmark']];
    for (const sections of commands) {
      const flags = Object.values(SETTINGS).flatMap((row) => (row.cli && sections.includes(row.section) ? [row.cli] : []));
      expect(new Set(flags).size, sections.join('+')).toBe(flags.length);
    }
    expect(new Set(commands.flat())).toEqual(new Set(Object.values(SETTINGS).map((row) => row.section)));
    expect(PRUNE_METHODS).toBe(SETTINGS.method.values);
    expect(LIMITS.samples).toEqual({ min: SETTINGS.samples.min, max: SETTINGS.samples.max });
    expect(PRUNE_USAGE).toContain(`--method ${SETTINGS.method.values.join('|')}`);
  });

  it('the CLI checks values against the same limits as links', () => {
    expect(() => samplingFromFlags(cli(['--samples', '5000']), 1024)).toThrow(/--samples must be an integer in 1\.\.4096/);
    expect(() => settingsFromFlags(cli(['--method', 'wanda', '--sparsity', '0.99']), 'dense', 'prune')).toThrow(/--sparsity must be a number in 0\.\.0\.95/);
    expect(() => settingsFromFlags(cli(['--method', 'sorcery', '--sparsity', '0.5']), 'dense', 'prune')).toThrow(/--method must be one of magnitude, wanda/);
    expect(() => settingsFromFlags(cli(['--method', 'wanda', '--pattern', '4:2']), 'dense', 'prune')).toThrow(/--pattern: pattern 4:2 needs integers/);
    expect(settingsFromFlags(cli(['--method', 'wanda', '--pattern', '2:4']), 'dense', 'prune')).toMatchObject({
      pattern: { kind: 'n:m', n: 2, m: 4 },
      sparsity: 0.5,
    });
  });
});

describe('settings vocabulary: everything derives from the rows', () => {
  it("each section's defaults are its rows' defaults, at their places", () => {
    const page = defaultExperiment();
    for (const name of SETTING_NAMES) {
      const s = settingOf(name);
      if (s.at === null) continue;
      expect(readSetting(page[s.section], name), name).toEqual(s.default);
    }
    expect(page.prune).toEqual(sectionDefaults('prune'));
  });

  it('every row with a link key travels through the link with a non-default value, and only its own field changes', () => {
    for (const name of SETTING_NAMES) {
      const s = settingOf(name);
      if (s.url === null || s.at === null) continue;
      const experiment = defaultExperiment();
      // SparseGPT's knobs travel where they act.
      if (s.link === 'sparsegpt') experiment.prune.method = 'sparsegpt';
      const before = encodeExperiment(experiment);
      const value = otherValue(s);
      (experiment as unknown as Record<string, object>)[s.section] = withSetting(experiment[s.section], name, value);
      const link = encodeExperiment(experiment);
      expect(link, name).toContain(`${s.url}=`);
      expect(link, name).not.toBe(before);
      const { experiment: back, notes } = decodeExperiment(link);
      expect(notes, name).toEqual([]);
      expect(back, name).toEqual(experiment);
      // A link without the key means the default.
      const without = link
        .split('&')
        .filter((p) => !p.startsWith(`${s.url}=`))
        .join('&');
      expect(readSetting(decodeExperiment(without).experiment[s.section], name), name).toEqual(s.default);
    }
  });

  it('every pruning row with a flag is read by the CLI into its place of the settings', () => {
    for (const name of SETTING_NAMES) {
      const s = settingOf(name);
      if (s.section !== 'prune' || s.cli === null || s.at === null || name === 'method' || name === 'sparsity') continue;
      const value = otherValue(s);
      const settings = settingsFromFlags(cli(['--method', 'wanda', '--sparsity', '0.5', `--${s.cli}`, flagText(s, value)]), 'dense', 'prune');
      expect(readSetting(settings, name), name).toEqual(value);
    }
    expect(settingsFromFlags(cli(['--method', 'magnitude', '--sparsity', '0.25']), 'dense', 'prune')).toMatchObject({ method: 'magnitude', sparsity: 0.25 });
  });

  it("the page's setting values are made valid by the row: clamped, rounded, refused", () => {
    expect(validSetting('samples', 5000)).toEqual({ value: SETTINGS.samples.max });
    expect(validSetting('samples', 3.6)).toEqual({ value: 4 });
    expect(validSetting('samples', NaN)).toBeNull();
    expect(validSetting('method', 'sorcery')).toBeNull();
    expect(validSetting('method', 'wanda')).toEqual({ value: 'wanda' });
    expect(validSetting('targets', ['shared', 'experts', 'nope'])).toEqual({ value: ['experts', 'shared'] });
    expect(validSetting('targets', [])).toBeNull();
    expect(validSetting('recoverText', null)).toEqual({ value: null });
  });
});

describe('settings vocabulary: one definition', () => {
  it('no source file but the vocabulary restates a value list (e.g. "magnitude", "wanda" or "dense" | "sequential")', () => {
    const root = new URL('../../src/', import.meta.url).pathname;
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.tsx?$/.test(name) && !path.endsWith('engine/experiment/vocabulary.ts')) files.push(path);
      }
    };
    walk(root);
    // Two consecutive values of a choice row, as a list or a union, anywhere else is a second definition.
    const lists = Object.values(SETTINGS).flatMap((row) => (row.kind === 'choice' || row.kind === 'subset' ? [row.values] : []));
    const patterns = lists.map(([a, b]) => new RegExp(`'${a}'\\s*(,|\\|)\\s*'${b}'`));
    const offenders = files.flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      return patterns.filter((p) => p.test(text)).map((p) => `${file.slice(root.length)}: ${p.source}`);
    });
    expect(offenders).toEqual([]);
  });
});
