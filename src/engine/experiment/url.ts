/**
 * Experiment <-> URL hash: `#v=1&model=embedded:brown-moe-3m&hash=…&text=brown&samples=64&…`. The settings' keys,
 * value sets, limits and defaults are the vocabulary's (vocabulary.ts); this file only orders and reads them.
 * Readable (`key=value`, with `: , / @` left unescaped, as a fragment allows), short (view, hide and tour only
 * when not default) and stable (keys and v1 defaults never change meaning; see schema.ts).
 *
 * Decoding never throws and never runs anything: each value is parsed against its schema, clamped into range
 * or replaced by its default, and every unknown, repeated or malformed parameter becomes a note for the page.
 */
import {
  canonicalRemoteId,
  canonicalSubset,
  defaultExperiment,
  EXPERIMENT_VERSION,
  formatPattern,
  HIDEABLE_CONTROLS,
  LIMITS,
  MODEL_SOURCE_KINDS,
  PANELS,
  readPattern,
  type CalibrationText,
  type Experiment,
  type ExperimentRecover,
  type ExperimentModel,
  type SparsityPattern,
} from './schema.ts';
import { SHORT_HASH_LENGTH } from './model-hash.ts';
import { PATTERN, SETTINGS, type ChoiceSetting, type NumberSetting, type SubsetSetting } from './vocabulary.ts';

const S = SETTINGS;
/** A row's share-link key (every row read here has one). */
const key = (row: { url: string | null }): string => row.url!;

export interface DecodedExperiment {
  experiment: Experiment;
  /** One line per parameter that was ignored, clamped or replaced; empty for a clean link. */
  notes: string[];
  /** The known parameters the link set (valid or not, but a refused `model` is left out), e.g. to tell a link that names a model from one that does not. */
  keys: string[];
}

/** Links longer than this are not read at all (a v1 link is a few hundred characters). */
export const MAX_HASH_LENGTH = 4096;
const MAX_NOTES = 12;

export function encodeExperiment(experiment: Experiment): string {
  const { model, calibration: c, prune: p, view } = experiment;
  const defaults = defaultExperiment();
  const pairs: [string, string][] = [
    ['v', String(EXPERIMENT_VERSION)],
    ['model', `${model.source}:${model.id}`],
  ];
  if (model.hash) pairs.push(['hash', model.hash]);
  pairs.push(
    ['text', textValue(c.text)],
    [key(S.samples), String(c.samples)],
    [key(S.seqLen), String(c.seqLen)],
    [key(S.seed), String(c.seed)],
    [key(S.mode), c.mode],
    [key(S.method), p.method],
    [key(S.sparsity), String(p.sparsity)],
    [key(PATTERN), formatPattern(p.pattern)],
    [key(S.group), p.group],
    [key(S.allocation), p.allocation],
    [key(S.expertsDrop), String(p.expertsDrop)],
    [key(S.expertCriterion), p.expertCriterion],
    [key(S.targets), p.targets.join(',')],
    // SparseGPT's knobs only where they act, so other links stay as they were.
    ...(p.method === 'sparsegpt'
      ? ([
          [key(S.blockSize), String(p.sparseGpt.blockSize)],
          [key(S.damp), String(p.sparseGpt.damp)],
        ] as [string, string][])
      : []),
    ['eval', textValue(experiment.evaluation.text)],
    [key(S.ctx), String(experiment.evaluation.ctx)],
    [key(S.evalTokens), String(experiment.evaluation.maxTokens)],
  );
  // The Recover step's settings only where they differ from its defaults, so links made before it stay as they were.
  const r = experiment.recover;
  const rd = defaults.recover;
  if (r.text !== null) pairs.push(['rtext', textValue(r.text)]);
  const recoverNumbers: [NumberSetting, keyof ExperimentRecover][] = [
    [S.recoverSamples, 'samples'],
    [S.recoverSeqLen, 'seqLen'],
    [S.recoverSeed, 'seed'],
    [S.recoverSteps, 'steps'],
    [S.recoverLr, 'lr'],
    [S.recoverBatch, 'batch'],
  ];
  for (const [row, name] of recoverNumbers) if (r[name] !== rd[name]) pairs.push([key(row), String(r[name])]);
  if (view.panel !== defaults.view.panel) pairs.push(['panel', view.panel]);
  if (view.layer !== defaults.view.layer) pairs.push(['layer', String(view.layer)]);
  if (experiment.hide.length) pairs.push(['hide', experiment.hide.join(',')]);
  if (experiment.tour) pairs.push(['tour', '1']);
  return pairs.map(([key, value]) => `${key}=${encodeValue(value)}`).join('&');
}

function textValue(text: CalibrationText): string {
  return text.kind === 'pasted' ? `pasted:${text.hash}` : text.id;
}

function encodeValue(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%2F/gi, '/').replace(/%40/gi, '@');
}

/** A parsed value, or why it was refused. */
type Parsed<T> = { value: T; note?: string } | { error: string };

/** A note when the value was refused or changed; `refused`: the default stands, as if the key were absent. */
type KeyReader = (raw: string, experiment: Experiment) => { note?: string; refused?: true };

/** Sets the field from `raw`, or leaves the default and says so. */
function field<T>(parse: (raw: string) => Parsed<T>, set: (experiment: Experiment, value: T) => void, fallback: (d: Experiment) => string): KeyReader {
  return (raw, experiment) => {
    const parsed = parse(raw);
    if ('error' in parsed) return { note: `${parsed.error}; using the default (${fallback(defaultExperiment())})`, refused: true };
    set(experiment, parsed.value);
    return { note: parsed.note };
  };
}

function oneOf<T extends string>(key: string, values: readonly T[]) {
  return (raw: string): Parsed<T> =>
    (values as readonly string[]).includes(raw) ? { value: raw as T } : { error: `${key}=${show(raw)} is not one of ${values.join(', ')}` };
}

const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function numberIn(key: string, range: { min: number; max: number }, integer: boolean) {
  return (raw: string): Parsed<number> => {
    const value = NUMBER.test(raw) ? Number(raw) : NaN;
    const kind = integer ? 'an integer' : 'a number';
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
      return { error: `${key}=${show(raw)} is not ${kind} from ${range.min} to ${range.max}` };
    }
    const clamped = Math.min(range.max, Math.max(range.min, value));
    return clamped === value ? { value } : { value: clamped, note: `${key}=${show(raw)} is outside ${range.min}-${range.max}; using ${clamped}` };
  };
}

function listOf<T extends string>(key: string, values: readonly T[], allowEmpty: boolean) {
  return (raw: string): Parsed<T[]> => {
    const items = raw.split(',').filter(Boolean);
    const unknown = items.filter((item) => !(values as readonly string[]).includes(item));
    const kept = canonicalSubset(items, values);
    if (!kept.length && !allowEmpty) return { error: `${key}=${show(raw)} names none of ${values.join(', ')}` };
    return unknown.length ? { value: kept, note: `${key}: ignored ${showSome(unknown)} (known: ${values.join(', ')})` } : { value: kept };
  };
}

function parseModel(raw: string): Parsed<Omit<ExperimentModel, 'hash'>> {
  const colon = raw.indexOf(':');
  const source = raw.slice(0, colon);
  const id = raw.slice(colon + 1);
  if (colon < 0 || !(MODEL_SOURCE_KINDS as readonly string[]).includes(source)) {
    return { error: `model=${show(raw)} does not start with ${MODEL_SOURCE_KINDS.map((k) => `${k}:`).join(', ')}` };
  }
  if (source === 'embedded' && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(id)) return { value: { source, id } };
  if (source === 'hub') {
    const canonical = canonicalRemoteId(id);
    if (canonical !== null && canonical.length <= 400) return { value: { source, id: canonical } };
  }
  if (source === 'files' && id.length > 0 && id.length <= 200 && !hasControlCharacter(id)) return { value: { source, id } };
  return { error: `model=${show(raw)} is not a valid ${source} model id` };
}

function parseText(raw: string): Parsed<CalibrationText> {
  const pasted = /^pasted:([0-9a-f]+)$/.exec(raw);
  if (pasted && pasted[1].length === SHORT_HASH_LENGTH) return { value: { kind: 'pasted', hash: pasted[1] } };
  if (!pasted && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(raw)) return { value: { kind: 'corpus', id: raw } };
  return { error: `${show(raw)} is neither a text id nor pasted:<${SHORT_HASH_LENGTH} hex digits>` };
}

/** A parser whose errors start with `key=`. */
function prefixed<T>(key: string, parse: (raw: string) => Parsed<T>) {
  return (raw: string): Parsed<T> => {
    const parsed = parse(raw);
    return 'error' in parsed ? { error: `${key}=${parsed.error}` } : parsed;
  };
}

function parsePattern(raw: string): Parsed<SparsityPattern> {
  const pattern = raw.trim() === raw ? readPattern(raw) : null;
  if (pattern && !('error' in pattern)) return { value: pattern };
  return { error: `${key(PATTERN)}=${show(raw)} is neither unstructured nor N:M with 1 <= N < M <= ${LIMITS.patternM.max}` };
}

/** A reader for a number row: parsed, clamped into the row's limits, else its default. */
function numberKey(row: NumberSetting, set: (e: Experiment, v: number) => void): KeyReader {
  return field(numberIn(key(row), row, row.integer), set, () => String(row.default));
}

function choiceKey<V extends string>(row: ChoiceSetting<V>, set: (e: Experiment, v: V) => void): KeyReader {
  return field(oneOf(key(row), row.values), set, () => row.default);
}

function subsetKey<V extends string>(row: SubsetSetting<V>, set: (e: Experiment, v: V[]) => void): KeyReader {
  return field(listOf(key(row), row.values, false), set, () => row.default.join(','));
}

function parseHash(raw: string): Parsed<string> {
  // Accept the full 64-digit hash too, and keep the short form links carry.
  return /^[0-9a-f]{16,64}$/.test(raw)
    ? { value: raw.slice(0, SHORT_HASH_LENGTH) }
    : { error: `hash=${show(raw)} is not ${SHORT_HASH_LENGTH}-64 lower-case hex digits` };
}

const KEYS: Record<string, KeyReader> = {
  model: field(
    parseModel,
    (e, v) => (e.model = { ...v, hash: e.model.hash }),
    (d) => `${d.model.source}:${d.model.id}`,
  ),
  hash: field(
    parseHash,
    (e, v) => (e.model.hash = v),
    () => 'none',
  ),
  text: field(
    prefixed('text', parseText),
    (e, v) => (e.calibration.text = v),
    (d) => (d.calibration.text.kind === 'corpus' ? d.calibration.text.id : ''),
  ),
  [key(S.samples)]: numberKey(S.samples, (e, v) => (e.calibration.samples = v)),
  [key(S.seqLen)]: numberKey(S.seqLen, (e, v) => (e.calibration.seqLen = v)),
  [key(S.seed)]: numberKey(S.seed, (e, v) => (e.calibration.seed = v)),
  [key(S.mode)]: choiceKey(S.mode, (e, v) => (e.calibration.mode = v)),
  [key(S.method)]: choiceKey(S.method, (e, v) => (e.prune.method = v)),
  [key(S.sparsity)]: numberKey(S.sparsity, (e, v) => (e.prune.sparsity = v)),
  [key(PATTERN)]: field(
    parsePattern,
    (e, v) => (e.prune.pattern = v),
    () => formatPattern(PATTERN.default),
  ),
  [key(S.group)]: choiceKey(S.group, (e, v) => (e.prune.group = v)),
  [key(S.allocation)]: choiceKey(S.allocation, (e, v) => (e.prune.allocation = v)),
  [key(S.expertsDrop)]: numberKey(S.expertsDrop, (e, v) => (e.prune.expertsDrop = v)),
  [key(S.expertCriterion)]: choiceKey(S.expertCriterion, (e, v) => (e.prune.expertCriterion = v)),
  [key(S.targets)]: subsetKey(S.targets, (e, v) => (e.prune.targets = v)),
  [key(S.blockSize)]: numberKey(S.blockSize, (e, v) => (e.prune.sparseGpt = { ...e.prune.sparseGpt, blockSize: v })),
  [key(S.damp)]: numberKey(S.damp, (e, v) => (e.prune.sparseGpt = { ...e.prune.sparseGpt, damp: v })),
  eval: field(
    prefixed('eval', parseText),
    (e, v) => (e.evaluation.text = v),
    (d) => (d.evaluation.text.kind === 'corpus' ? d.evaluation.text.id : ''),
  ),
  [key(S.ctx)]: numberKey(S.ctx, (e, v) => (e.evaluation.ctx = v)),
  [key(S.evalTokens)]: numberKey(S.evalTokens, (e, v) => (e.evaluation.maxTokens = v)),
  rtext: field(
    prefixed('rtext', parseText),
    (e, v) => (e.recover.text = v),
    () => 'the calibration text',
  ),
  [key(S.recoverSamples)]: numberKey(S.recoverSamples, (e, v) => (e.recover.samples = v)),
  [key(S.recoverSeqLen)]: numberKey(S.recoverSeqLen, (e, v) => (e.recover.seqLen = v)),
  [key(S.recoverSeed)]: numberKey(S.recoverSeed, (e, v) => (e.recover.seed = v)),
  [key(S.recoverSteps)]: numberKey(S.recoverSteps, (e, v) => (e.recover.steps = v)),
  [key(S.recoverLr)]: numberKey(S.recoverLr, (e, v) => (e.recover.lr = v)),
  [key(S.recoverBatch)]: numberKey(S.recoverBatch, (e, v) => (e.recover.batch = v)),
  panel: field(
    oneOf('panel', PANELS),
    (e, v) => (e.view.panel = v),
    (d) => d.view.panel,
  ),
  layer: field(
    numberIn('layer', LIMITS.layer, true),
    (e, v) => (e.view.layer = v),
    (d) => String(d.view.layer),
  ),
  hide: field(
    listOf('hide', HIDEABLE_CONTROLS, true),
    (e, v) => (e.hide = v),
    () => 'nothing hidden',
  ),
  tour: field(
    oneOf('tour', ['0', '1'] as const),
    (e, v) => (e.tour = v === '1'),
    () => '0',
  ),
};

/** Reads a URL hash (with or without its '#'); unknown, repeated or malformed parameters become notes. */
export function decodeExperiment(hash: string): DecodedExperiment {
  const experiment = defaultExperiment();
  const notes: string[] = [];
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!text) return { experiment, notes, keys: [] };
  if (text.length > MAX_HASH_LENGTH) {
    return { experiment, notes: [`The link's settings are ${text.length} characters long (at most ${MAX_HASH_LENGTH}); all were ignored.`], keys: [] };
  }
  const seen = new Set<string>();
  const keys: string[] = [];
  // A repeated key is noted once, with how often it came again (a link may repeat a key hundreds of times).
  const repeats = new Map<string, { raw: string; count: number }>();
  let version: string | null = null;
  for (const part of text.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = safeDecode(eq < 0 ? part : part.slice(0, eq));
    const raw = eq < 0 ? null : safeDecode(part.slice(eq + 1));
    if (key === null || raw === null) {
      notes.push(`Ignored ${show(part)}: not a key=value pair.`);
      continue;
    }
    if (seen.has(key)) {
      const repeat = repeats.get(key);
      if (repeat) repeat.count++;
      else repeats.set(key, { raw, count: 1 });
      continue;
    }
    seen.add(key);
    if (key === 'v') {
      version = raw;
      continue;
    }
    const reader = Object.hasOwn(KEYS, key) ? KEYS[key] : undefined;
    if (!reader) {
      notes.push(`Ignored the unknown parameter ${show(key)}.`);
      continue;
    }
    const { note, refused } = reader(raw, experiment);
    if (note) notes.push(`${note}.`);
    // A refused model= names no model: the page then opens its own default (public/models/index.json) as on a plain visit.
    if (!(refused && key === 'model')) keys.push(key);
  }
  for (const [key, { raw, count }] of repeats) {
    notes.push(
      count === 1 ? `Ignored a repeated ${show(key)}=${show(raw)} (the first one counts).` : `Ignored ${count} repeats of ${show(key)} (the first one counts).`,
    );
  }
  // Each distinct problem once: the same malformed part may come many times.
  notes.splice(0, notes.length, ...new Set(notes));
  if (version === null) notes.unshift(`The link has no schema version (v=${EXPERIMENT_VERSION} assumed).`);
  else if (version !== String(EXPERIMENT_VERSION)) {
    notes.unshift(
      /^\d+$/.test(version) && Number(version) > EXPERIMENT_VERSION
        ? `The link was made by a newer MoE Lab (v=${show(version)}); it was read as v=${EXPERIMENT_VERSION} where possible.`
        : `The link's version v=${show(version)} is not known; it was read as v=${EXPERIMENT_VERSION} where possible.`,
    );
  }
  if (notes.length > MAX_NOTES) notes.splice(MAX_NOTES - 1, notes.length, `… and ${notes.length - MAX_NOTES + 1} more notes about this link.`);
  return { experiment, notes, keys };
}

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** At most a few distinct values, quoted, and how many more: a note stays short however long the list. */
function showSome(values: readonly string[]): string {
  const distinct = [...new Set(values)];
  const shown = distinct.slice(0, 3).map(show).join(', ');
  return distinct.length > 3 ? `${shown} and ${distinct.length - 3} more` : shown;
}

/** A value as a note quotes it: short, one line, no control characters. */
function show(value: string): string {
  const clean = [...value].map((ch) => (hasControlCharacter(ch) ? '?' : ch)).join('');
  return JSON.stringify(clean.length > 40 ? `${clean.slice(0, 40)}…` : clean);
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
