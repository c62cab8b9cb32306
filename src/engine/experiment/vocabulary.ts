/**
 * The settings vocabulary: one row per setting a person can choose (calibration, pruning, evaluation), holding its
 * values or limits, default, label, share-link key, CLI flag and help. Everything else derives from it: the
 * experiment schema's types, defaults and LIMITS (schema.ts), the share-link codec (url.ts), the pruning pipeline's
 * types and checks (src/engine/prune, src/engine/sparsegpt), the API request types (src/api/lab.ts), the CLI flags,
 * usage text and value checks (src/cli/commands/prune-options.ts) and the page's option lists (src/ui/lab).
 *
 * The defaults are the share link's v1 defaults and are frozen (schema.ts): a v1 link must keep its meaning. To add a
 * setting, add a row here (with `url: null` while links do not carry it, or a new key whose absence means the
 * default), then the field in schema.ts / the pipeline, and its implementation; see docs/architecture.md.
 */

/** What every row says. `url`: the share-link key (null: links do not carry it); `cli`: the flag without `--` (null: none). */
interface SettingBase {
  section: 'calibration' | 'prune' | 'evaluation' | 'recover';
  label: string;
  help: string;
  url: string | null;
  cli: string | null;
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

type Row<S> = Omit<S, 'kind' | 'values' | 'options' | 'default'>;

function choice<const V extends string>(row: Row<ChoiceSetting<V>> & { options: Record<V, string>; default: NoInfer<V> }): ChoiceSetting<V> {
  return { kind: 'choice', ...row, values: Object.keys(row.options) as V[] };
}

function subset<const V extends string>(row: Row<SubsetSetting<V>> & { options: Record<V, string>; default: readonly NoInfer<V>[] }): SubsetSetting<V> {
  return { kind: 'subset', ...row, values: Object.keys(row.options) as V[] };
}

function number(row: Omit<NumberSetting, 'kind'>): NumberSetting {
  return { kind: 'number', ...row };
}

/** The page's default model: the `default: true` entry of public/models/index.json (a unit test holds them together). */
export const DEFAULT_EMBEDDED_MODEL = 'brown-moe-3m';
/** The page's default calibration and evaluation text (public/texts). */
export const DEFAULT_TEXT = 'brown';

/**
 * Keep the N largest of every M consecutive input columns of a row (1 <= N < M <= maxM), or no pattern. Written
 * `unstructured` or `N:M` in links and flags. M is at most 16: blocks are ranked in registers (one u32 key per column).
 */
export const PATTERN = {
  section: 'prune',
  label: 'Pattern',
  help: "'unstructured' or N:M: keep the N largest scores of every M consecutive input columns (2:4 runs on sparse tensor cores)",
  url: 'pattern',
  cli: 'pattern',
  minM: 2,
  maxM: 16,
  /** The patterns the page offers (4:8 as in Wanda's tables); any valid N:M from a link is offered too. */
  offered: ['unstructured', '2:4', '4:8'],
  default: { kind: 'unstructured' },
} as const;

export const SETTINGS = {
  samples: number({
    section: 'calibration',
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
  group: choice({
    section: 'prune',
    label: 'Compare weights within',
    help: 'which weights compete: each output row (Wanda, MoE-Pruner), each matrix, or each layer',
    url: 'group',
    cli: 'group',
    options: { row: 'each output row (Wanda, MoE-Pruner)', matrix: 'each matrix', layer: 'each layer' },
    default: 'row',
  }),
  allocation: choice({
    section: 'prune',
    label: 'Sparsity per layer',
    help: "uniform, or OWL's outlier-weighted layer sparsities (Yin et al. 2024)",
    url: 'alloc',
    cli: 'allocation',
    options: { uniform: 'uniform', owl: 'OWL: less where activations have outliers (Yin et al. 2023)' },
    default: 'uniform',
  }),
  owlLambda: number({
    section: 'prune',
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
    label: 'chosen by',
    help: 'which experts go first: fewest routed tokens, smallest total gate weight, or REAP saliency',
    url: 'crit',
    cli: 'expert-criterion',
    options: { frequency: 'fewest routed tokens', gate: 'smallest total gate weight', reap: 'REAP: smallest router-weighted output norm' },
    default: 'frequency',
  }),
  targets: subset({
    section: 'prune',
    label: 'Prune',
    help: 'which weights are pruned: routed expert FFNs, attention q/k/v/o, the shared expert (Qwen2-MoE); never routers or norms',
    url: 'targets',
    cli: 'targets',
    options: { experts: 'routed experts', attention: 'attention', shared: 'shared expert' },
    default: ['experts'],
  }),
  blockSize: number({
    section: 'prune',
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
  ctx: number({
    section: 'evaluation',
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
    label: 'Tokens to read',
    help: 'tokens of the evaluation text scored (split over genres when per genre)',
    url: 'evaltokens',
    cli: 'max-tokens',
    min: 16,
    max: 4_194_304,
    integer: true,
    default: 4096,
  }),
  // The Recover step (docs/distillation.md): its share-link keys were added to v1 later, so a link without them means
  // these defaults, and links carry them only where they differ.
  recoverSamples: number({
    section: 'recover',
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

/** `--flag a|b|c` or `--flag N`, for usage lines. */
export function usageOf(name: SettingName): string {
  const s = SETTINGS[name] as ChoiceSetting<string> | SubsetSetting<string> | NumberSetting;
  const flag = `--${s.cli}`;
  if (s.kind === 'choice') return `${flag} ${s.values.join('|')}`;
  if (s.kind === 'subset')
    return `${flag} ${s.values[0]}${s.values
      .slice(1)
      .map((v) => `[,${v}]`)
      .join('')}`;
  return `${flag} ${s.integer ? 'N' : 'X'}`;
}
