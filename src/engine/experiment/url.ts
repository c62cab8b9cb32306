/**
 * Experiment <-> URL hash: `#v=1&model=embedded:test-tiny-mixtral&hash=…&text=brown&samples=64&…`.
 * Readable (`key=value`, with `: , / @` left unescaped, as a fragment allows), short (view, hide and tour only
 * when not default) and stable (keys and v1 defaults never change meaning; see schema.ts).
 *
 * Decoding never throws and never runs anything: each value is parsed against its schema, clamped into range
 * or replaced by its default, and every unknown, repeated or malformed parameter becomes a note for the page.
 */
import {
  ALLOCATIONS,
  CALIBRATION_MODES,
  canonicalRemoteId,
  canonicalSubset,
  defaultExperiment,
  EXPERIMENT_VERSION,
  EXPERT_CRITERIA,
  formatPattern,
  HIDEABLE_CONTROLS,
  LIMITS,
  MODEL_SOURCE_KINDS,
  PANELS,
  PRUNE_GROUPS,
  PRUNE_METHODS,
  PRUNE_TARGETS,
  type CalibrationText,
  type Experiment,
  type ExperimentModel,
  type SparsityPattern,
} from './schema.ts';
import { SHORT_HASH_LENGTH } from './model-hash.ts';

export interface DecodedExperiment {
  experiment: Experiment;
  /** One line per parameter that was ignored, clamped or replaced; empty for a clean link. */
  notes: string[];
  /** The known parameters the link set (valid or not), e.g. to tell a link that names a model from one that does not. */
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
    ['samples', String(c.samples)],
    ['seqlen', String(c.seqLen)],
    ['seed', String(c.seed)],
    ['mode', c.mode],
    ['method', p.method],
    ['sparsity', String(p.sparsity)],
    ['pattern', formatPattern(p.pattern)],
    ['group', p.group],
    ['alloc', p.allocation],
    ['drop', String(p.expertsDrop)],
    ['crit', p.expertCriterion],
    ['targets', p.targets.join(',')],
    // SparseGPT's knobs only where they act, so other links stay as they were.
    ...(p.method === 'sparsegpt'
      ? ([
          ['blocksize', String(p.sparseGpt.blockSize)],
          ['damp', String(p.sparseGpt.damp)],
        ] as [string, string][])
      : []),
    ['eval', textValue(experiment.evaluation.text)],
    ['ctx', String(experiment.evaluation.ctx)],
    ['evaltokens', String(experiment.evaluation.maxTokens)],
  );
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

type KeyReader = (raw: string, experiment: Experiment) => string | undefined;

/** Sets the field from `raw`; returns a note when the value was refused or changed. */
function field<T>(parse: (raw: string) => Parsed<T>, set: (experiment: Experiment, value: T) => void, fallback: (d: Experiment) => string): KeyReader {
  return (raw, experiment) => {
    const parsed = parse(raw);
    if ('error' in parsed) return `${parsed.error}; using the default (${fallback(defaultExperiment())})`;
    set(experiment, parsed.value);
    return parsed.note;
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
    return unknown.length ? { value: kept, note: `${key}: ignored ${unknown.map(show).join(', ')} (known: ${values.join(', ')})` } : { value: kept };
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
  if (raw === 'unstructured') return { value: { kind: 'unstructured' } };
  const match = /^(\d{1,2}):(\d{1,2})$/.exec(raw);
  const n = Number(match?.[1]);
  const m = Number(match?.[2]);
  if (match && n >= 1 && n < m && m >= LIMITS.patternM.min && m <= LIMITS.patternM.max) return { value: { kind: 'n:m', n, m } };
  return { error: `pattern=${show(raw)} is neither unstructured nor N:M with 1 <= N < M <= ${LIMITS.patternM.max}` };
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
  samples: field(
    numberIn('samples', LIMITS.samples, true),
    (e, v) => (e.calibration.samples = v),
    (d) => String(d.calibration.samples),
  ),
  seqlen: field(
    numberIn('seqlen', LIMITS.seqLen, true),
    (e, v) => (e.calibration.seqLen = v),
    (d) => String(d.calibration.seqLen),
  ),
  seed: field(
    numberIn('seed', LIMITS.seed, true),
    (e, v) => (e.calibration.seed = v),
    (d) => String(d.calibration.seed),
  ),
  mode: field(
    oneOf('mode', CALIBRATION_MODES),
    (e, v) => (e.calibration.mode = v),
    (d) => d.calibration.mode,
  ),
  method: field(
    oneOf('method', PRUNE_METHODS),
    (e, v) => (e.prune.method = v),
    (d) => d.prune.method,
  ),
  sparsity: field(
    numberIn('sparsity', LIMITS.sparsity, false),
    (e, v) => (e.prune.sparsity = v),
    (d) => String(d.prune.sparsity),
  ),
  pattern: field(
    parsePattern,
    (e, v) => (e.prune.pattern = v),
    (d) => formatPattern(d.prune.pattern),
  ),
  group: field(
    oneOf('group', PRUNE_GROUPS),
    (e, v) => (e.prune.group = v),
    (d) => d.prune.group,
  ),
  alloc: field(
    oneOf('alloc', ALLOCATIONS),
    (e, v) => (e.prune.allocation = v),
    (d) => d.prune.allocation,
  ),
  drop: field(
    numberIn('drop', LIMITS.expertsDrop, true),
    (e, v) => (e.prune.expertsDrop = v),
    (d) => String(d.prune.expertsDrop),
  ),
  crit: field(
    oneOf('crit', EXPERT_CRITERIA),
    (e, v) => (e.prune.expertCriterion = v),
    (d) => d.prune.expertCriterion,
  ),
  targets: field(
    listOf('targets', PRUNE_TARGETS, false),
    (e, v) => (e.prune.targets = v),
    (d) => d.prune.targets.join(','),
  ),
  blocksize: field(
    numberIn('blocksize', LIMITS.blockSize, true),
    (e, v) => (e.prune.sparseGpt = { ...e.prune.sparseGpt, blockSize: v }),
    (d) => String(d.prune.sparseGpt.blockSize),
  ),
  damp: field(
    numberIn('damp', LIMITS.damp, false),
    (e, v) => (e.prune.sparseGpt = { ...e.prune.sparseGpt, damp: v }),
    (d) => String(d.prune.sparseGpt.damp),
  ),
  eval: field(
    prefixed('eval', parseText),
    (e, v) => (e.evaluation.text = v),
    (d) => (d.evaluation.text.kind === 'corpus' ? d.evaluation.text.id : ''),
  ),
  ctx: field(
    numberIn('ctx', LIMITS.ctx, true),
    (e, v) => (e.evaluation.ctx = v),
    (d) => String(d.evaluation.ctx),
  ),
  evaltokens: field(
    numberIn('evaltokens', LIMITS.evalTokens, true),
    (e, v) => (e.evaluation.maxTokens = v),
    (d) => String(d.evaluation.maxTokens),
  ),
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
      notes.push(`Ignored a repeated ${show(key)}=${show(raw)} (the first one counts).`);
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
    keys.push(key);
    const note = reader(raw, experiment);
    if (note) notes.push(`${note}.`);
  }
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
