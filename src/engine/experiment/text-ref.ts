/**
 * Text ids as share links write them <-> the engine's TextRef. A link's text id is an id of public/data/index.json,
 * optionally followed by `.<genre>` for one genre of a text with a document index (`brown.news`). `brown` is the
 * schema v1 name of the Brown held-out text (`brown-heldout` in index.json): v1's default calibration text, kept
 * as the canonical link form so default links stay short and old links keep their meaning.
 */
import type { CalibrationText } from './schema.ts';

/**
 * A text the lab reads: one of the page's texts (public/data/index.json) by id, optionally one genre of it, or a
 * text the user pasted or uploaded, known by the first 16 hex digits of its SHA-256.
 */
export type TextRef = { kind: 'corpus'; id: string; genre?: string } | { kind: 'pasted'; hash: string };

/** Link ids that name a text of index.json under another id. */
export const TEXT_ID_ALIASES: Readonly<Record<string, string>> = { brown: 'brown-heldout' };

/** The link id of an index.json id (its alias when it has one). */
export function linkTextId(indexId: string): string {
  return Object.entries(TEXT_ID_ALIASES).find(([, id]) => id === indexId)?.[0] ?? indexId;
}

/** The engine's reference for a link's text. */
export function textRefOf(text: CalibrationText): TextRef {
  if (text.kind === 'pasted') return { kind: 'pasted', hash: text.hash };
  const dot = text.id.indexOf('.');
  const id = dot < 0 ? text.id : text.id.slice(0, dot);
  const resolved = Object.hasOwn(TEXT_ID_ALIASES, id) ? TEXT_ID_ALIASES[id] : id;
  return dot < 0 ? { kind: 'corpus', id: resolved } : { kind: 'corpus', id: resolved, genre: text.id.slice(dot + 1) };
}

/** The link's form of an engine text reference. */
export function linkTextOf(ref: TextRef): CalibrationText {
  if (ref.kind === 'pasted') return { kind: 'pasted', hash: ref.hash };
  const id = linkTextId(ref.id);
  return { kind: 'corpus', id: ref.genre ? `${id}.${ref.genre}` : id };
}

/** A stable string key of a text reference (caches, comparisons). */
export function textKey(ref: TextRef): string {
  return ref.kind === 'pasted' ? `pasted:${ref.hash}` : ref.genre ? `${ref.id}.${ref.genre}` : ref.id;
}
