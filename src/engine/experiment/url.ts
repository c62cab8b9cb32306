/**
 * Experiment <-> URL hash: `#v=1&model=embedded:brown-moe-3m&hash=…&text=brown&samples=64&…`. The settings' keys,
 * value sets, limits, defaults and when each key is written are the vocabulary's rows (vocabulary.ts): this file
 * walks the rows in table order both ways, and keeps only the keys that are not settings (v, model, hash, panel,
 * layer, hide, tour).
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
  type ExperimentModel,
  type SparsityPattern,
} from './schema.ts';
import { formatExpertSwitches, parseExpertSwitches, type ExpertSwitch } from '../model/steering.ts';
import { SHORT_HASH_LENGTH } from './model-hash.ts';
import { PATTERN, readSetting, SETTING_NAMES, settingOf, withSetting, type Section, type Setting, type SettingName } from './vocabulary.ts';

/** The rows a link carries: those with a key and a place in the experiment, in table order. */
const LINKED = SETTING_NAMES.filter((name) => settingOf(name).url !== null && settingOf(name).at !== null);
/** A row's share-link key (every row read here has one). */

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
  const { model, view } = experiment;
  const defaults = defaultExperiment();
  const pairs: [string, string][] = [
    ['v', String(EXPERIMENT_VERSION)],
    ['model', `${model.source}:${model.id}`],
  ];
  if (model.hash) pairs.push(['hash', model.hash]);
  for (const name of LINKED) {
    const s = settingOf(name);
    const value = readSetting(experiment[s.section], name);
    // Keys added to v1 later only where they differ from the default, SparseGPT's knobs only where they act: links
    // made before them stay as they were.
    if (s.link === 'non-default' && JSON.stringify(value) === JSON.stringify(readSetting(defaults[s.section], name))) continue;
    if (s.link === 'sparsegpt' && experiment.prune.method !== 'sparsegpt') continue;
    pairs.push([s.url!, linkValue(s, value)]);
  }
  if (view.panel !== defaults.view.panel) pairs.push(['panel', view.panel]);
  if (view.layer !== defaults.view.layer) pairs.push(['layer', String(view.layer)]);
  if (experiment.hide.length) pairs.push(['hide', experiment.hide.join(',')]);
  if (experiment.tour) pairs.push(['tour', '1']);
  return pairs.map(([key, value]) => `${key}=${encodeValue(value)}`).join('&');
}

/** A row's value as the link writes it. */
function linkValue(s: Setting, value: unknown): string {
  if (s.kind === 'subset') return (value as string[]).join(',');
  if (s.kind === 'pattern') return formatPattern(value as SparsityPattern);
  if (s.kind === 'text') return textValue(value as CalibrationText);
  if (s.kind === 'switches') return formatExpertSwitches(value as ExpertSwitch[]);
  return String(value);
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

/** Switched-off experts; their range is checked against the model only when a computation uses them. */
function parseSwitches(key: string, raw: string): Parsed<ExpertSwitch[]> {
  try {
    return { value: parseExpertSwitches(raw) };
  } catch (error) {
    return { error: `${key}=${show(raw)}: ${(error as Error).message}` };
  }
}

function parsePattern(raw: string): Parsed<SparsityPattern> {
  const pattern = raw.trim() === raw ? readPattern(raw) : null;
  if (pattern && !('error' in pattern)) return { value: pattern };
  return { error: `${PATTERN.url}=${show(raw)} is neither unstructured nor N:M with 1 <= N < M <= ${LIMITS.patternM.max}` };
}

/** How a row's value reads from a link, and what a note names as its default. */
function parserOf(s: Setting): { parse: (raw: string) => Parsed<unknown>; shown: string } {
  const key = s.url!;
  switch (s.kind) {
    case 'number':
      return { parse: numberIn(key, s, s.integer), shown: String(s.default) };
    case 'choice':
      return { parse: oneOf(key, s.values), shown: s.default };
    case 'subset':
      return { parse: listOf(key, s.values, false), shown: s.default.join(',') };
    case 'pattern':
      return { parse: parsePattern, shown: formatPattern(s.default) };
    case 'text':
      return { parse: prefixed(key, parseText), shown: s.default === null ? (s.nullMeans ?? 'none') : textValue(s.default) };
    case 'switches':
      return { parse: (raw) => parseSwitches(key, raw), shown: formatExpertSwitches(s.default) || 'none' };
  }
}

/** The reader of a row's key: parsed (numbers clamped into the row's limits) and set at the row's place, else its default. */
function settingKey(name: SettingName): KeyReader {
  const { parse, shown } = parserOf(settingOf(name));
  const section: Section = settingOf(name).section;
  return field(
    parse,
    (e, v) => ((e as unknown as Record<Section, object>)[section] = withSetting(e[section], name, v)),
    () => shown,
  );
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
  ...Object.fromEntries(LINKED.map((name) => [settingOf(name).url!, settingKey(name)])),
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
