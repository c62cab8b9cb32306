/**
 * The settings vocabulary: one row per setting a person can choose (calibration, pruning, quantization, evaluation, recovery),
 * holding where it lives in the experiment (`at`), its values or limits, default, label, share-link key and when the
 * link writes it, CLI flag and help. Everything else derives from the rows:
 * - the experiment's section types and defaults (`SectionValues`, `sectionDefaults`; schema.ts),
 * - the share-link codec, both ways (url.ts walks the rows),
 * - the CLI's flags, usage text and value checks (`sectionFromFlags` and friends in src/cli/commands/prune-options.ts),
 * - the page's controls and the store's `setSetting` action (src/ui/lab/SettingField.tsx, src/state/actions.ts),
 * - the API request types (src/api/lab.ts) and the pipeline's settings (src/engine/prune/pipeline-settings.ts),
 *   which extend the section types.
 *
 * The v1 defaults are frozen (schema.ts): a v1 link must keep its meaning. To add a setting: a row here (a new link
 * key whose absence means the default, with `link: 'non-default'` so older links stay as they were), its
 * implementation, a control where the page shows it (`<SettingField name=... />`), and tests; see
 * docs/architecture.md "Settings vocabulary".
 */
import type { ExpertSwitch } from '../model/steering.ts';

export type Section = 'calibration' | 'prune' | 'quantize' | 'evaluation' | 'benchmark' | 'recover';

/**
 * What every row says. `at`: the dotted path of its value in the experiment, `<section>.<field>[.<field>]` (null:
 * not part of the experiment, a CLI-only knob); `url`: the share-link key (null: links do not carry it); `link`: when
 * the link writes the key (`always`, the default; `non-default`: only when it differs from the default, for keys
 * added to v1 later; `sparsegpt`: only with method sparsegpt, where the knob acts); `cli`: the flag without `--`
 * (null: none); `required`: the CLI usage shows the flag without brackets.
 */
interface SettingBase {
  section: Section;
  at: string | null;
  label: string;
  help: string;
  url: string | null;
  link?: 'always' | 'non-default' | 'sparsegpt';
  cli: string | null;
  required?: true;
}

/** One of a fixed set of values; `options` maps each value, in canonical order, to the page's label. */
export interface ChoiceSetting<V extends string> extends SettingBase {
  kind: 'choice';
  options: Readonly<Record<V, string>>;
  values: readonly V[];
  default: V;
}

/** A non-empty subset of `values`, kept in their order. */
export interface SubsetSetting<V extends string> extends SettingBase {
  kind: 'subset';
  options: Readonly<Record<V, string>>;
  values: readonly V[];
  default: readonly V[];
}

/** A number in [min, max]; `step` is the page's input step. */
export interface NumberSetting extends SettingBase {
  kind: 'number';
  min: number;
  max: number;
  integer: boolean;
  default: number;
  step?: number;
}

/** Keep the N largest of every M consecutive input columns (1 <= N < M <= maxM), or no pattern. One shape everywhere: links, API, pipeline. */
export type SparsityPattern = { kind: 'unstructured' } | { kind: 'n:m'; n: number; m: number };

/** `unstructured` or `N:M`, written so in links and flags. */
export interface PatternSetting extends SettingBase {
  kind: 'pattern';
  minM: number;
  maxM: number;
  /** The patterns the page offers; any valid N:M from a link is offered too. */
  offered: readonly string[];
  default: SparsityPattern;
}

/** A text: one of the page's texts by id, or text the user pasted, known by its hash only. */
export type CalibrationText = { kind: 'corpus'; id: string } | { kind: 'pasted'; hash: string };

/** Which text a step reads; `nullMeans`: what null (the default of an optional text) stands for. */
export interface TextSetting extends SettingBase {
  kind: 'text';
  default: CalibrationText | null;
  nullMeans?: string;
}

/** Experts switched off (steering, src/engine/model/steering.ts), written `L:E[,L:E...]` with L a layer or `*`. */
export interface SwitchesSetting extends SettingBase {
  kind: 'switches';
  default: ExpertSwitch[];
}

export type Setting = ChoiceSetting<string> | SubsetSetting<string> | NumberSetting | PatternSetting | TextSetting | SwitchesSetting;

type Row<S> = Omit<S, 'kind' | 'values' | 'options' | 'default' | 'at'>;

function choice<const V extends string, const A extends string>(
  row: Row<ChoiceSetting<V>> & { at: A; options: Record<V, string>; default: NoInfer<V> },
): ChoiceSetting<V> & { at: A } {
  return { kind: 'choice', ...row, values: Object.keys(row.options) as V[] };
}

function subset<const V extends string, const A extends string>(
  row: Row<SubsetSetting<V>> & { at: A; options: Record<V, string>; default: readonly NoInfer<V>[] },
): SubsetSetting<V> & { at: A } {
  return { kind: 'subset', ...row, values: Object.keys(row.options) as V[] };
}

function number<const A extends string | null>(row: Row<NumberSetting> & { at: A; default: number }): NumberSetting & { at: A } {
  return { kind: 'number', ...row };
}

function pattern<const A extends string>(row: Row<PatternSetting> & { at: A; default: SparsityPattern }): PatternSetting & { at: A } {
  return { kind: 'pattern', ...row };
}

function text<const A extends string, const D extends CalibrationText | null>(
  row: Row<TextSetting> & { at: A; default: D },
): TextSetting & { at: A; default: D } {
  return { kind: 'text', ...row };
}

function switches<const A extends string>(row: Row<SwitchesSetting> & { at: A; default: ExpertSwitch[] }): SwitchesSetting & { at: A } {
  return { kind: 'switches', ...row };
}

/** The page's default model: the `default: true` entry of public/models/index.json (a unit test holds them together). */
export const DEFAULT_EMBEDDED_MODEL = 'brown-qmoe128-sharp-3m';
/**
 * The guided tour's generation (src/ui/lab/GuidedTour.tsx): the prompt the generation panel opens with and the new
 * tokens of the tour's greedy continuations, a sentence, quick even on a CPU driver. A shipped model's
 * `lessonExpert` (public/models/index.json) is an expert whose absence changes this continuation.
 */
export const LESSON_GENERATION = { prompt: 'The jury said', tokens: 8 } as const;
/** The page's default calibration and evaluation text (public/texts). */
export const DEFAULT_TEXT = 'brown';

export const SETTINGS = {
  text: text({
    section: 'calibration',
    at: 'calibration.text',
    label: 'Calibration text',
    help: 'the text calibration windows are drawn from (the CLI reads --text FILE or --ids FILE instead)',
    url: 'text',
    cli: null,
    default: { kind: 'corpus', id: DEFAULT_TEXT },
  }),
  samples: number({
    section: 'calibration',
    at: 'calibration.samples',
    label: 'Samples',
    help: 'calibration windows N, drawn at seeded random starts of the text (docs/calibration.md)',
    url: 'samples',
    cli: 'samples',
    min: 1,
    max: 4096,
    integer: true,
    default: 64,
  }),
  seqLen: number({
    section: 'calibration',
    at: 'calibration.seqLen',
    label: 'Tokens per sample',
    help: "tokens per calibration window L (clamped to the model's context)",
    url: 'seqlen',
    cli: 'seq-len',
    min: 8,
    max: 32768,
    integer: true,
    default: 128,
  }),
  seed: number({
    section: 'calibration',
    at: 'calibration.seed',
    label: 'Seed',
    help: 'seeds the calibration windows and the random method',
    url: 'seed',
    cli: 'seed',
    min: 0,
    max: 2 ** 32 - 1,
    integer: true,
    default: 0,
  }),
  mode: choice({
    section: 'calibration',
    at: 'calibration.mode',
    label: 'Mode',
    help: 'dense: statistics of the dense model; sequential: layer l measured through layers < l already pruned',
    url: 'mode',
    cli: 'mode',
    options: {
      dense: 'dense (one pass)',
      sequential: 'sequential (layer by layer through the already-pruned layers, as Wanda and SparseGPT do; runs as part of Prune)',
    },
    default: 'dense',
  }),
  method: choice({
    section: 'prune',
    at: 'prune.method',
    required: true,
    label: 'Method',
    help: 'scoring method (docs/pruning.md; SparseGPT: docs/sparsegpt.md)',
    url: 'method',
    cli: 'method',
    options: {
      magnitude: 'Magnitude: |W|',
      wanda: 'Wanda: |W| · √Σx²',
      'moe-pruner': 'MoE-Pruner: |W| · √Σ(g·x)² (router-weighted)',
      random: 'Random (seeded baseline)',
      sparsegpt: 'SparseGPT (updates the kept weights)',
    },
    default: 'moe-pruner',
  }),
  sparsity: number({
    section: 'prune',
    at: 'prune.sparsity',
    required: true,
    label: 'Sparsity',
    help: 'fraction pruned in each comparison group (unstructured; N:M fixes it at 1 - N/M)',
    url: 'sparsity',
    cli: 'sparsity',
    min: 0,
    max: 0.95,
    integer: false,
    default: 0.5,
    step: 0.05,
  }),
  // M is at most 16: blocks are ranked in registers (one u32 key per column).
  pattern: pattern({
    section: 'prune',
    at: 'prune.pattern',
    label: 'Pattern',
    help: "'unstructured' or N:M: keep the N largest scores of every M consecutive input columns (2:4 runs on sparse tensor cores)",
    url: 'pattern',
    cli: 'pattern',
    minM: 2,
    maxM: 16,
    // 4:8 as in Wanda's tables.
    offered: ['unstructured', '2:4', '4:8'],
    default: { kind: 'unstructured' },
  }),
  group: choice({
    section: 'prune',
    at: 'prune.group',
    label: 'Compare weights within',
    help: 'which weights compete: each output row (Wanda, MoE-Pruner), each matrix, or each layer',
    url: 'group',
    cli: 'group',
    options: { row: 'each output row (Wanda, MoE-Pruner)', matrix: 'each matrix', layer: 'each layer' },
    default: 'row',
  }),
  structure: choice({
    section: 'prune',
    at: 'prune.structure',
    label: 'Structure',
    help: "unstructured: single weights (masks; the model stays as large); neurons: every routed expert drops the same share of its FFN neurons (a gate row, an up row and a down column each), so the export is genuinely smaller (docs/pruning.md, 'Neuron pruning')",
    url: 'structure',
    link: 'non-default',
    cli: 'structure',
    options: { unstructured: 'single weights (masks)', neurons: 'expert neurons (smaller model)' },
    default: 'unstructured',
  }),
  allocation: choice({
    section: 'prune',
    at: 'prune.allocation',
    label: 'Sparsity per layer',
    help: "uniform, or OWL's outlier-weighted layer sparsities (Yin et al. 2024)",
    url: 'alloc',
    cli: 'allocation',
    options: { uniform: 'uniform', owl: 'OWL: less where activations have outliers (Yin et al. 2023)' },
    default: 'uniform',
  }),
  owlLambda: number({
    section: 'prune',
    at: null,
    label: 'OWL lambda',
    help: 'OWL: layer sparsities span at most target +- lambda (the paper: 0.08)',
    url: null,
    cli: 'owl-lambda',
    min: 0,
    max: 0.5,
    integer: false,
    default: 0.08,
  }),
  owlM: number({
    section: 'prune',
    at: null,
    label: 'OWL outlier factor',
    help: "OWL: a score is an outlier above M times its layer's mean (the paper: 5)",
    url: null,
    cli: 'owl-m',
    min: 0,
    max: Infinity,
    integer: false,
    default: 5,
  }),
  expertsDrop: number({
    section: 'prune',
    at: 'prune.expertsDrop',
    label: 'Experts dropped per layer',
    help: 'experts dropped per MoE layer, lowest criterion first (at most E - top-k)',
    url: 'drop',
    cli: 'experts-drop',
    min: 0,
    max: 1024,
    integer: true,
    default: 0,
  }),
  expertCriterion: choice({
    section: 'prune',
    at: 'prune.expertCriterion',
    label: 'chosen by',
    help: 'which experts go first: fewest routed tokens, smallest total gate weight, or REAP saliency',
    url: 'crit',
    cli: 'expert-criterion',
    options: { frequency: 'fewest routed tokens', gate: 'smallest total gate weight', reap: 'REAP: smallest router-weighted output norm' },
    default: 'frequency',
  }),
  protect: choice({
    section: 'prune',
    at: 'prune.protect',
    label: 'Protect',
    help: 'experts never dropped or pruned: super experts, whose largest output is far above their layer median (Su et al. 2025; docs/calibration.md)',
    url: 'protect',
    link: 'non-default',
    cli: 'protect',
    options: { none: 'nothing', 'super-experts': 'super experts (never dropped or pruned)' },
    default: 'none',
  }),
  targets: subset({
    section: 'prune',
    at: 'prune.targets',
    label: 'Prune',
    help: 'which weights are pruned: routed expert FFNs, attention q/k/v/o, the shared expert (Qwen2-MoE); never routers or norms',
    url: 'targets',
    cli: 'targets',
    options: { experts: 'routed experts', attention: 'attention', shared: 'shared expert' },
    default: ['experts'],
  }),
  blockSize: number({
    section: 'prune',
    at: 'prune.sparseGpt.blockSize',
    link: 'sparsegpt',
    label: 'Block width (columns)',
    help: "SparseGPT's block width B of the column loop (the paper: 128; a row's block stays in workgroup memory)",
    url: 'blocksize',
    cli: 'blocksize',
    min: 1,
    max: 4096,
    integer: true,
    default: 128,
  }),
  damp: number({
    section: 'prune',
    at: 'prune.sparseGpt.damp',
    link: 'sparsegpt',
    label: 'Dampening',
    help: "SparseGPT's dampening: the fraction of the mean Hessian diagonal added before inverting (the paper: 0.01)",
    url: 'damp',
    cli: 'damp',
    min: 0,
    max: 1,
    integer: false,
    default: 0.01,
    step: 0.005,
  }),
  // Quantization of the routed experts (docs/quantization.md), after pruning or alone. Keys added to v1 later: links
  // carry them only where they differ from the defaults, so a link without qbits means "not quantized".
  quantBits: choice({
    section: 'quantize',
    at: 'quantize.bits',
    label: 'Quantize experts to',
    help: 'code bits per routed-expert weight (symmetric per-group integers, GPTQ layout), or mixed precision under an average bit budget (bits per matrix by measured error)',
    url: 'qbits',
    link: 'non-default',
    cli: null,
    // The numeric options are the lab's code widths (QUANT_BITS, src/engine/quantize/quantized-matrix.ts, derives from them).
    options: { none: 'not quantized', '8': '8 bits', '4': '4 bits', '3': '3 bits', '2': '2 bits', mixed: 'mixed precision (average budget)' },
    default: 'none',
  }),
  quantMethod: choice({
    section: 'quantize',
    at: 'quantize.method',
    label: 'Quantizer',
    help: "round-to-nearest, or GPTQ (Frantar et al. 2022): the column sweep that updates the not yet quantized weights with the routed tokens' Hessian",
    url: 'qmethod',
    link: 'non-default',
    cli: 'method',
    options: { rtn: 'round to nearest (RTN)', gptq: 'GPTQ (calibration windows)' },
    default: 'rtn',
  }),
  quantAvgBits: number({
    section: 'quantize',
    at: 'quantize.avgBits',
    label: 'Average bits',
    help: 'mixed precision: average code bits per weight over the routed experts; each matrix gets a width so that the summed routed-token error is smallest (QPruner)',
    url: 'qavg',
    link: 'non-default',
    cli: 'avg-bits',
    min: 2,
    max: 8,
    integer: false,
    default: 4,
    step: 0.25,
  }),
  quantGroupSize: number({
    section: 'quantize',
    at: 'quantize.groupSize',
    label: 'Group size',
    help: "input columns sharing one scale (a multiple of 4 that divides every expert matrix's input width)",
    url: 'qgroup',
    link: 'non-default',
    cli: 'group-size',
    min: 4,
    max: 4096,
    integer: true,
    default: 32,
    step: 4,
  }),
  quantAllocation: choice({
    section: 'quantize',
    at: 'quantize.allocation',
    label: 'Bit allocation',
    help: 'mixed precision: the exact knapsack over matrices x widths, or greedy (the best error drop per bit first)',
    url: 'qalloc',
    link: 'non-default',
    cli: 'allocation',
    options: { knapsack: 'exact knapsack', greedy: 'greedy' },
    default: 'knapsack',
  }),
  quantDamp: number({
    section: 'quantize',
    at: 'quantize.damp',
    label: 'GPTQ dampening',
    help: "GPTQ's dampening: the fraction of the mean Hessian diagonal added before inverting (the paper: 0.01)",
    url: 'qdamp',
    link: 'non-default',
    cli: 'damp',
    min: 0.0001,
    max: 1,
    integer: false,
    default: 0.01,
    step: 0.005,
  }),
  evalText: text({
    section: 'evaluation',
    at: 'evaluation.text',
    label: 'Evaluation text',
    help: 'the text perplexity is measured on',
    url: 'eval',
    cli: null,
    default: { kind: 'corpus', id: DEFAULT_TEXT },
  }),
  ctx: number({
    section: 'evaluation',
    at: 'evaluation.ctx',
    label: 'Window (tokens)',
    help: 'perplexity window length',
    url: 'ctx',
    cli: 'ctx',
    min: 8,
    max: 32768,
    integer: true,
    default: 128,
  }),
  evalTokens: number({
    section: 'evaluation',
    at: 'evaluation.maxTokens',
    label: 'Tokens to read',
    help: 'tokens of the evaluation text scored (split over genres when per genre)',
    url: 'evaltokens',
    cli: 'max-tokens',
    min: 16,
    max: 4_194_304,
    integer: true,
    default: 4096,
  }),
  disabledExperts: switches({
    section: 'evaluation',
    at: 'evaluation.disabledExperts',
    label: 'Experts switched off',
    help: 'steering: experts whose router logit becomes -inf in the steered generation, L:E with L a MoE layer or * for every one (docs/forward.md)',
    url: 'steer',
    link: 'non-default',
    cli: null,
    default: [],
  }),
  forcedExperts: switches({
    section: 'evaluation',
    at: 'evaluation.forcedExperts',
    label: 'Experts forced',
    help: 'steering: in the steered generation every token of layer L (every MoE layer for *) goes to expert E alone with gate 1, L:E, one per layer (docs/forward.md)',
    url: 'force',
    link: 'non-default',
    cli: null,
    default: [],
  }),
  // The Benchmarks step (docs/evaluation.md): which items, and how many per task (BLiMP: per paradigm). Keys added to
  // v1 later: links carry them only where they differ from the defaults.
  benchTasks: text({
    section: 'benchmark',
    at: 'benchmark.tasks',
    label: 'Benchmark items',
    help: "the shipped BLiMP subset (blimp), one field or paradigm of it (blimp.<field or paradigm>, non-word characters as '-'), or an uploaded task file known by its hash (pasted:<hash>); src/engine/eval/benchmark-selection.ts",
    url: 'bench',
    link: 'non-default',
    cli: null,
    default: { kind: 'corpus', id: 'blimp' },
  }),
  benchLimit: number({
    section: 'benchmark',
    at: 'benchmark.limit',
    label: 'Items per paradigm',
    help: "at most this many items per task file, per paradigm for BLiMP (lm-evaluation-harness's --limit); the shipped subset has 200 per paradigm",
    url: 'benchlimit',
    link: 'non-default',
    cli: null,
    min: 1,
    max: 1_000_000,
    integer: true,
    // 67 x 10 pairs: seconds on a GPU, about a minute on a CPU driver.
    default: 10,
  }),
  // The Recover step (docs/distillation.md): its share-link keys were added to v1 later, so a link without them means
  // these defaults, and links carry them only where they differ.
  recoverText: text({
    section: 'recover',
    at: 'recover.text',
    label: 'Training text',
    help: 'the text the Recover step trains on (null: the calibration text)',
    url: 'rtext',
    link: 'non-default',
    cli: null,
    default: null,
    nullMeans: 'the calibration text',
  }),
  recoverSamples: number({
    section: 'recover',
    at: 'recover.samples',
    link: 'non-default',
    label: 'Windows',
    help: 'training windows N of the Recover step, drawn at seeded starts of the training text (the calibration rule)',
    url: 'rsamples',
    cli: 'samples',
    min: 1,
    max: 4096,
    integer: true,
    default: 128,
  }),
  recoverSeqLen: number({
    section: 'recover',
    at: 'recover.seqLen',
    link: 'non-default',
    label: 'Window (tokens)',
    help: "tokens per training window L (clamped below the model's context)",
    url: 'rseqlen',
    cli: 'seq-len',
    min: 8,
    max: 32768,
    integer: true,
    default: 128,
  }),
  recoverSeed: number({
    section: 'recover',
    at: 'recover.seed',
    link: 'non-default',
    label: 'Seed',
    help: 'seeds the training windows and their order',
    url: 'rseed',
    cli: 'seed',
    min: 0,
    max: 2 ** 32 - 1,
    integer: true,
    default: 0,
  }),
  recoverSteps: number({
    section: 'recover',
    at: 'recover.steps',
    link: 'non-default',
    label: 'Steps per layer',
    help: 'optimizer steps per MoE layer (the layers are distilled one after the other)',
    url: 'rsteps',
    cli: 'steps',
    min: 1,
    max: 100_000,
    integer: true,
    default: 100,
  }),
  recoverLr: number({
    section: 'recover',
    at: 'recover.lr',
    link: 'non-default',
    label: 'Learning rate',
    help: 'peak AdamW learning rate of each layer (warmup over 10% of its steps, cosine to a tenth)',
    url: 'rlr',
    cli: 'lr',
    min: 1e-6,
    max: 0.5,
    integer: false,
    default: 1e-3,
    step: 1e-6,
  }),
  recoverBatch: number({
    section: 'recover',
    at: 'recover.batch',
    link: 'non-default',
    label: 'Windows per step',
    help: 'training windows per optimizer step',
    url: 'rbatch',
    cli: 'batch',
    min: 1,
    max: 64,
    integer: true,
    default: 4,
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;
/** The value type of a choice setting. */
export type ChoiceOf<S> = S extends ChoiceSetting<infer V> ? V : S extends SubsetSetting<infer V> ? V : never;

/** The pattern row (its M limits are the pipeline's). */
export const PATTERN = SETTINGS.pattern;

/** The value a row holds: a choice's value, a subset's list, a number, a pattern, a text (null where the row's default is). */
export type ValueOf<S> =
  S extends ChoiceSetting<infer V>
    ? V
    : S extends SubsetSetting<infer V>
      ? V[]
      : S extends NumberSetting
        ? number
        : S extends PatternSetting
          ? SparsityPattern
          : S extends TextSetting & { default: infer D }
            ? CalibrationText | (null extends D ? null : never)
            : S extends SwitchesSetting
              ? ExpertSwitch[]
              : never;

type Nest<P extends string, V> = P extends `${infer H}.${infer R}` ? { [K in H]: Nest<R, V> } : { [K in P]: V };
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type Flatten<T> = T extends readonly unknown[] ? T : T extends { kind: string } ? T : T extends object ? { [K in keyof T]: Flatten<T[K]> } : T;
type Rows = typeof SETTINGS;

/** The experiment's section `S` as its rows lay it out: `{ samples: number; …; sparseGpt: { blockSize: number; … } }`. */
export type SectionValues<S extends Section> = Flatten<
  UnionToIntersection<{ [N in SettingName]: Rows[N]['at'] extends `${S}.${infer P}` ? Nest<P, ValueOf<Rows[N]>> : never }[SettingName]>
>;

/** Every row, by name, in table order (the order links write their keys in). */
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** A row as the common shape, for code that walks the table. */
export function settingOf(name: SettingName): Setting {
  return SETTINGS[name] as Setting;
}

/** The names of a section's rows that live in the experiment, in table order. */
export function sectionRows(section: Section): SettingName[] {
  return SETTING_NAMES.filter((name) => SETTINGS[name].section === section && SETTINGS[name].at !== null);
}

/** The path of a row's value inside its section (`sparseGpt.blockSize`). */
function fieldPath(setting: Setting): string[] {
  return setting.at!.split('.').slice(1);
}

/** A row's value inside `sectionValue` (an object shaped as `SectionValues` of the row's section). */
export function readSetting(sectionValue: object, name: SettingName): unknown {
  return fieldPath(settingOf(name)).reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], sectionValue);
}

/** Sets a row's value inside `sectionValue`, copying the objects on the way (the input is not changed). */
export function withSetting<T extends object>(sectionValue: T, name: SettingName, value: unknown): T {
  const put = (o: Record<string, unknown>, [k, ...rest]: string[]): Record<string, unknown> => ({
    ...o,
    [k]: rest.length ? put((o[k] ?? {}) as Record<string, unknown>, rest) : value,
  });
  return put(sectionValue as Record<string, unknown>, fieldPath(settingOf(name))) as T;
}

/** A fresh copy of a row's default. */
export function defaultOf(name: SettingName): unknown {
  return structuredClone(settingOf(name).default);
}

/** A section's defaults, from its rows. */
export function sectionDefaults<S extends Section>(section: S): SectionValues<S> {
  return sectionRows(section).reduce<object>((o, name) => withSetting(o, name, defaultOf(name)), {}) as SectionValues<S>;
}

/**
 * A row's value made valid, for the page's controls: numbers clamped into the row's limits (integers rounded), a
 * subset put in canonical order. Null when it cannot be: a number that is not finite (a half-typed field), a choice
 * outside the row's values, an empty subset.
 */
export function validSetting(name: SettingName, value: unknown): { value: unknown } | null {
  const s = settingOf(name);
  if (s.kind === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value)) return null;
    return { value: Math.min(s.max, Math.max(s.min, s.integer ? Math.round(value) : value)) };
  }
  if (s.kind === 'choice') return typeof value === 'string' && s.values.includes(value) ? { value } : null;
  if (s.kind === 'subset') {
    const list = Array.isArray(value) ? (value as unknown[]) : [];
    const kept = s.values.filter((v) => list.includes(v));
    return kept.length ? { value: kept } : null;
  }
  return { value };
}

/** `--flag a|b|c` or `--flag N`, for usage lines. */
export function usageOf(name: SettingName): string {
  const s = settingOf(name);
  const flag = `--${s.cli}`;
  if (s.kind === 'choice') return `${flag} ${s.values.join('|')}`;
  if (s.kind === 'subset')
    return `${flag} ${s.values[0]}${s.values
      .slice(1)
      .map((v) => `[,${v}]`)
      .join('')}`;
  if (s.kind === 'pattern') return `${flag} unstructured|N:M`;
  if (s.kind === 'text') return `${flag} FILE`;
  if (s.kind === 'switches') return `${flag} L:E[,L:E...]`;
  return `${flag} ${s.integer ? 'N' : 'X'}`;
}
