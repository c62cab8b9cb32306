/**
 * The Benchmarks step's selection (src/engine/eval/benchmark-selection.ts) and its share-link keys: the shipped BLiMP
 * subset, one field or paradigm of it, or an uploaded file by hash round-trip through a link (bench=, benchlimit=),
 * a link without them means the whole subset and 10 pairs per paradigm, and an id picks exactly its lines; a link
 * names a benchmark to replay only with bench or benchlimit, and selectionTaskFile gives the page and run its task file.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { reproduceBenchmark } from '../../src/api/experiment-requests.ts';
import {
  blimpChoices,
  blimpGroupId,
  selectBlimp,
  selectionTaskFile,
  SHIPPED_BLIMP,
  SHIPPED_BLIMP_FILE,
  taskFileHash,
} from '../../src/engine/eval/benchmark-selection.ts';
import { defaultExperiment } from '../../src/engine/experiment/schema.ts';
import { decodeExperiment, encodeExperiment } from '../../src/engine/experiment/url.ts';

const lines = readFileSync(`public/${SHIPPED_BLIMP_FILE}`, 'utf8')
  .split('\n')
  .filter((line) => line.trim());

describe('benchmark selection', () => {
  it('offers the whole subset, its five fields and 67 paradigms, with their pair counts', () => {
    const choices = blimpChoices(lines);
    expect(choices[0]).toEqual({ id: SHIPPED_BLIMP, level: 'all', name: 'all fields', pairs: 13_400 });
    const fields = choices.filter((c) => c.level === 'field');
    expect(fields.map((c) => c.id).sort()).toEqual(['blimp.morphology', 'blimp.semantics', 'blimp.syntax', 'blimp.syntax-semantics', 'blimp.syntax_semantics']);
    expect(fields.find((c) => c.name === 'morphology')!.pairs).toBe(3600);
    expect(choices.filter((c) => c.level === 'paradigm')).toHaveLength(67);
    expect(new Set(choices.map((c) => c.id)).size).toBe(choices.length);
  });

  it('picks exactly the lines of a field or a paradigm, and refuses an id that names neither', () => {
    expect(selectBlimp(lines, SHIPPED_BLIMP).lines).toHaveLength(13_400);
    const morphology = selectBlimp(lines, 'blimp.morphology');
    expect(morphology.file).toBe('blimp-morphology.jsonl');
    expect(morphology.lines.every((l) => (JSON.parse(l) as { field: string }).field === 'morphology')).toBe(true);
    expect(morphology.lines).toHaveLength(3600);
    // "syntax/semantics" (one paradigm, spelled so in the source) is its own field, apart from syntax_semantics.
    expect(selectBlimp(lines, blimpGroupId('syntax/semantics')).lines).toHaveLength(200);
    const paradigm = selectBlimp(lines, 'blimp.adjunct_island');
    expect(paradigm.lines.every((l) => (JSON.parse(l) as { UID: string }).UID === 'adjunct_island')).toBe(true);
    expect(() => selectBlimp(lines, 'blimp.phonology')).toThrow(/bench=blimp\.phonology names no field or paradigm/);
  });

  it('travels in the share link as bench= and benchlimit=, only when not the defaults', () => {
    const e = defaultExperiment();
    expect(e.benchmark).toEqual({ tasks: { kind: 'corpus', id: 'blimp' }, limit: 10 });
    expect(encodeExperiment(e)).not.toMatch(/bench/);
    e.benchmark = { tasks: { kind: 'corpus', id: 'blimp.morphology' }, limit: 1 };
    const link = encodeExperiment(e);
    expect(link).toContain('bench=blimp.morphology&benchlimit=1');
    expect(decodeExperiment(`#${link}`)).toMatchObject({ experiment: { benchmark: e.benchmark }, notes: [] });
    e.benchmark.tasks = { kind: 'pasted', hash: '0123456789abcdef' };
    expect(decodeExperiment(`#${encodeExperiment(e)}`).experiment.benchmark.tasks).toEqual(e.benchmark.tasks);
    const bad = decodeExperiment('#v=1&bench=BLiMP!&benchlimit=0');
    // A malformed id means the default; a limit out of range is clamped (each with a note).
    expect(bad.experiment.benchmark).toEqual({ tasks: { kind: 'corpus', id: 'blimp' }, limit: 1 });
    expect(bad.notes.join(' ')).toMatch(/bench=.*BLiMP!.*benchlimit="0" is outside/);
  });

  it('a link names a benchmark to replay only with bench or benchlimit; its task file is the selection or the upload with that hash', async () => {
    const of = (keys: string) => reproduceBenchmark(decodeExperiment(`v=1&model=embedded:brown-moe-3m${keys}`).experiment);
    expect(of('')).toBeNull();
    expect(of('&bench=blimp')).toBeNull();
    expect(of('&benchlimit=1')).toEqual({ tasks: { kind: 'corpus', id: SHIPPED_BLIMP }, limit: 1, variants: ['dense', 'pruned'] });
    expect(of('&bench=blimp.morphology')).toMatchObject({ tasks: { kind: 'corpus', id: 'blimp.morphology' }, limit: 10 });

    const shipped = async () => lines;
    const none = () => null;
    const morphology = await selectionTaskFile({ kind: 'corpus', id: 'blimp.morphology' }, shipped, none, 'unused');
    expect(morphology).toEqual({ file: 'blimp-morphology.jsonl', text: selectBlimp(lines, 'blimp.morphology').lines.join('\n') });
    const upload = { file: 'mine.jsonl', text: lines[0] };
    const hash = await taskFileHash(upload.text);
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    const byHash = (h: string) => (h === hash ? upload : null);
    expect(await selectionTaskFile({ kind: 'pasted', hash }, shipped, byHash, 'unused')).toBe(upload);
    await expect(selectionTaskFile({ kind: 'pasted', hash: '0'.repeat(16) }, shipped, byHash, 'give it')).rejects.toThrow(
      `The benchmark file is known only by its hash ${'0'.repeat(16)}: give it.`,
    );
  });
});
