import { describe, expect, it } from 'vitest';
import { createRng, type Rng } from '../../src/engine/random.ts';
import {
  ALLOCATIONS,
  CALIBRATION_MODES,
  defaultExperiment,
  EXPERT_CRITERIA,
  HIDEABLE_CONTROLS,
  LIMITS,
  PANELS,
  PRUNE_GROUPS,
  PRUNE_METHODS,
  PRUNE_TARGETS,
  type Experiment,
} from '../../src/engine/experiment/schema.ts';
import { decodeExperiment, encodeExperiment } from '../../src/engine/experiment/url.ts';
import { DEFAULT_EMBEDDED_MODEL, SETTINGS } from '../../src/engine/experiment/vocabulary.ts';

const pick = <T>(rng: Rng, values: readonly T[]): T => values[rng.int(values.length)];
const subset = <T>(rng: Rng, values: readonly T[]): T[] => values.filter(() => rng.next() < 0.5);
const hex = (rng: Rng, n: number) => Array.from({ length: n }, () => '0123456789abcdef'[rng.int(16)]).join('');
const intIn = (rng: Rng, r: { min: number; max: number }) => r.min + rng.int(Math.min(r.max - r.min + 1, 2 ** 31));

function randomExperiment(rng: Rng): Experiment {
  const source = pick(rng, ['embedded', 'hub', 'files'] as const);
  const id =
    source === 'embedded'
      ? pick(rng, ['test-tiny-mixtral', 'moe-lab-default', 'a.b_c-1'])
      : source === 'hub'
        ? pick(rng, [
            'allenai/OLMoE-1B-7B-0924',
            'org/name@v1.0',
            'Qwen/Qwen1.5-MoE-A2.7B',
            'https://huggingface.co/org/name/tree/main/sub',
            'https://models.example.org/moe/',
          ])
        : pick(rng, ['my model', 'ünïcode & = # % folder', 'a,b:c/d@e+f']);
  const m = 2 + rng.int(15);
  const targets = subset(rng, PRUNE_TARGETS);
  const method = pick(rng, PRUNE_METHODS);
  // SparseGPT's knobs travel only with its links; other methods keep the defaults.
  const sparseGpt =
    method === 'sparsegpt'
      ? { blockSize: intIn(rng, LIMITS.blockSize), damp: rng.next() < 0.3 ? pick(rng, [0, 1, 0.01]) : rng.next() }
      : defaultExperiment().prune.sparseGpt;
  return {
    model: { source, id, hash: rng.next() < 0.3 ? null : hex(rng, 16) },
    calibration: {
      text: rng.next() < 0.5 ? { kind: 'corpus', id: pick(rng, ['brown', 'wikitext-2', 'tinyshakespeare']) } : { kind: 'pasted', hash: hex(rng, 16) },
      samples: intIn(rng, LIMITS.samples),
      seqLen: intIn(rng, LIMITS.seqLen),
      seed: rng.nextU32(),
      mode: pick(rng, CALIBRATION_MODES),
    },
    prune: {
      method,
      // Any double in range, not just round ones: the codec must carry it exactly.
      sparsity: rng.next() < 0.2 ? pick(rng, [0, 0.95, 0.5]) : rng.next() * 0.95,
      pattern: rng.next() < 0.5 ? { kind: 'unstructured' } : { kind: 'n:m', n: 1 + rng.int(m - 1), m },
      group: pick(rng, PRUNE_GROUPS),
      allocation: pick(rng, ALLOCATIONS),
      expertsDrop: intIn(rng, LIMITS.expertsDrop),
      expertCriterion: pick(rng, EXPERT_CRITERIA),
      protect: pick(rng, SETTINGS.protect.values),
      structure: pick(rng, SETTINGS.structure.values),
      targets: targets.length ? targets : ['attention'],
      sparseGpt,
    },
    // Quantization: the defaults (not quantized; links omit its keys) or any value in range.
    quantize:
      rng.next() < 0.3
        ? defaultExperiment().quantize
        : {
            bits: pick(rng, SETTINGS.quantBits.values),
            method: pick(rng, SETTINGS.quantMethod.values),
            avgBits: LIMITS.quantAvgBits.min + rng.next() * (LIMITS.quantAvgBits.max - LIMITS.quantAvgBits.min),
            groupSize: intIn(rng, LIMITS.quantGroupSize),
            allocation: pick(rng, SETTINGS.quantAllocation.values),
            damp: LIMITS.quantDamp.min + rng.next() * (LIMITS.quantDamp.max - LIMITS.quantDamp.min),
          },
    evaluation: {
      text: rng.next() < 0.5 ? { kind: 'corpus', id: pick(rng, ['brown', 'brown.news', 'wikitext-2-test']) } : { kind: 'pasted', hash: hex(rng, 16) },
      ctx: intIn(rng, LIMITS.ctx),
      maxTokens: intIn(rng, LIMITS.evalTokens),
      disabledExperts:
        rng.next() < 0.5
          ? []
          : [
              { layer: rng.next() < 0.5 ? ('*' as const) : rng.int(48), expert: rng.int(128) },
              { layer: rng.int(4), expert: rng.int(8) },
            ],
      forcedExperts: rng.next() < 0.5 ? [] : [{ layer: rng.next() < 0.5 ? ('*' as const) : rng.int(48), expert: rng.int(128) }],
    },
    // The Benchmarks step: the shipped BLiMP subset, a field or paradigm of it, or an uploaded file by hash.
    benchmark: {
      tasks:
        rng.next() < 0.6
          ? { kind: 'corpus', id: pick(rng, ['blimp', 'blimp.morphology', 'blimp.syntax-semantics', 'blimp.adjunct_island']) }
          : { kind: 'pasted', hash: hex(rng, 16) },
      limit: intIn(rng, LIMITS.benchLimit),
    },
    // The Recover step's settings: the defaults (links then omit them) or any value in range.
    recover:
      rng.next() < 0.3
        ? defaultExperiment().recover
        : {
            text:
              rng.next() < 0.3 ? null : rng.next() < 0.5 ? { kind: 'corpus', id: pick(rng, ['brown', 'brown.news']) } : { kind: 'pasted', hash: hex(rng, 16) },
            samples: intIn(rng, LIMITS.recoverSamples),
            seqLen: intIn(rng, LIMITS.recoverSeqLen),
            seed: rng.nextU32(),
            steps: intIn(rng, LIMITS.recoverSteps),
            lr: LIMITS.recoverLr.min + rng.next() * (LIMITS.recoverLr.max - LIMITS.recoverLr.min),
            batch: intIn(rng, LIMITS.recoverBatch),
          },
    view: { panel: pick(rng, PANELS), layer: intIn(rng, LIMITS.layer) },
    hide: subset(rng, HIDEABLE_CONTROLS),
    tour: rng.next() < 0.5,
  };
}

describe('share-link codec', () => {
  it('round-trips 2000 random experiments exactly, with no notes', () => {
    const rng = createRng(7);
    for (let i = 0; i < 2000; i++) {
      const experiment = randomExperiment(rng);
      const hash = encodeExperiment(experiment);
      const decoded = decodeExperiment(`#${hash}`);
      expect(decoded.notes, hash).toEqual([]);
      expect(decoded.experiment, hash).toEqual(experiment);
      // Stable: encoding what was decoded gives the same text.
      expect(encodeExperiment(decoded.experiment)).toBe(hash);
    }
  });

  it('writes a readable, stable v1 link for the defaults', () => {
    expect(encodeExperiment(defaultExperiment())).toBe(
      // The model default is the page's default model (every link the page writes names its model).
      `v=1&model=embedded:${DEFAULT_EMBEDDED_MODEL}&text=brown&samples=64&seqlen=128&seed=0&mode=dense&method=moe-pruner` +
        '&sparsity=0.5&pattern=unstructured&group=row&alloc=uniform&drop=0&crit=frequency&targets=experts' +
        '&eval=brown&ctx=128&evaltokens=4096',
    );
    const e = defaultExperiment();
    e.prune.pattern = { kind: 'n:m', n: 2, m: 4 };
    e.prune.targets = ['experts', 'attention'];
    e.model = { source: 'hub', id: 'org/name@v2', hash: '0123456789abcdef' };
    e.hide = ['method', 'share'];
    e.tour = true;
    const link = encodeExperiment(e);
    expect(link).toContain('model=hub:org/name@v2&hash=0123456789abcdef');
    expect(link).toContain('pattern=2:4');
    expect(link).toContain('targets=experts,attention');
    expect(link).toMatch(/hide=method,share&tour=1$/);
  });

  it('reads a v1 link written before the evaluation keys as the evaluation defaults', () => {
    const { experiment, notes } = decodeExperiment('#v=1&model=embedded:test-tiny-mixtral&text=brown.news&method=wanda');
    expect(notes).toEqual([]);
    expect(experiment.evaluation).toEqual(defaultExperiment().evaluation);
    expect(experiment.calibration.text).toEqual({ kind: 'corpus', id: 'brown.news' });
    const bad = decodeExperiment('#v=1&eval=Not!&ctx=3&evaltokens=x');
    expect(bad.notes).toEqual([
      'eval="Not!" is neither a text id nor pasted:<16 hex digits>; using the default (brown).',
      'ctx="3" is outside 8-32768; using 8.',
      'evaltokens="x" is not an integer from 16 to 4194304; using the default (4096).',
    ]);
  });

  it("carries SparseGPT's block width and dampening in a sparsegpt link only, and notes bad values", () => {
    const e = defaultExperiment();
    expect(encodeExperiment(e)).not.toMatch(/blocksize|damp/);
    e.prune.method = 'sparsegpt';
    e.prune.sparseGpt = { blockSize: 64, damp: 0.05 };
    const link = encodeExperiment(e);
    expect(link).toContain('&blocksize=64&damp=0.05&');
    expect(decodeExperiment(link).experiment.prune.sparseGpt).toEqual({ blockSize: 64, damp: 0.05 });
    // A link from before these keys means the defaults.
    expect(decodeExperiment('#v=1&method=sparsegpt').experiment.prune.sparseGpt).toEqual({ blockSize: 128, damp: 0.01 });
    const bad = decodeExperiment('#v=1&method=sparsegpt&blocksize=12.5&damp=3');
    expect(bad.notes).toEqual(['blocksize="12.5" is not an integer from 1 to 4096; using the default (128).', 'damp="3" is outside 0-1; using 1.']);
  });

  it('reads an empty hash as the defaults without notes', () => {
    expect(decodeExperiment('')).toEqual({ experiment: defaultExperiment(), notes: [], keys: [] });
    expect(decodeExperiment('#')).toEqual({ experiment: defaultExperiment(), notes: [], keys: [] });
    // A refused model= names no model, so the page opens its own default.
    expect(decodeExperiment('#v=1&method=wanda&model=bad&zzz=1').keys).toEqual(['method']);
    expect(decodeExperiment('#v=1&method=wanda&model=embedded:other&zzz=1').keys).toEqual(['method', 'model']);
  });

  it('notes unknown, malformed, repeated and out-of-range parameters and uses defaults', () => {
    const { experiment, notes } = decodeExperiment(
      '#v=1&method=sorcery&sparsity=0.99&samples=abc&pattern=4:2&bogus=1&seed=-3&targets=experts,brains&hide=method,everything',
    );
    const more = decodeExperiment('#v=1&model=hub:ftp://evil.example/x&method=wanda&method=magnitude&layer=2.5&%E0%A4%A=1&tour=yes&hash=XYZ');
    const d = defaultExperiment();
    expect(experiment.prune.method).toBe(d.prune.method);
    expect(experiment.prune.sparsity).toBe(0.95);
    expect(experiment.calibration.samples).toBe(d.calibration.samples);
    expect(experiment.prune.pattern).toEqual(d.prune.pattern);
    expect(experiment.calibration.seed).toBe(0);
    expect(experiment.prune.targets).toEqual(['experts']);
    expect(experiment.hide).toEqual(['method']);
    expect(more.experiment.model).toEqual(d.model);
    expect(more.experiment.prune.method).toBe('wanda');
    expect(more.experiment.view.layer).toBe(0);
    expect(more.experiment.tour).toBe(false);
    const text = [...notes, ...more.notes].join('\n');
    for (const fragment of [
      'method="sorcery" is not one of',
      'sparsity="0.99" is outside 0-0.95; using 0.95',
      'samples="abc" is not an integer',
      'pattern="4:2"',
      'unknown parameter "bogus"',
      'seed="-3" is outside',
      'targets: ignored "brains"',
      'hide: ignored "everything"',
      'model="hub:ftp://evil.example/x" is not a valid hub model id',
      'repeated "method"="magnitude"',
      'layer="2.5" is not an integer',
      'not a key=value pair',
      'tour="yes"',
      'hash="XYZ"',
    ]) {
      expect(text).toContain(fragment);
    }
    expect(notes).toHaveLength(8);
    expect(more.notes).toHaveLength(6);
  });

  it("falls back to the page's real default model on a bad model=", () => {
    const { experiment, notes, keys } = decodeExperiment('#v=1&model=nonsense');
    expect(experiment.model).toEqual({ source: 'embedded', id: DEFAULT_EMBEDDED_MODEL, hash: null });
    expect(notes).toEqual([`model="nonsense" does not start with embedded:, hub:, files:; using the default (embedded:${DEFAULT_EMBEDDED_MODEL}).`]);
    expect(keys).toEqual([]);
  });

  it('names each distinct problem once, in notes of bounded length', () => {
    const hide = decodeExperiment(`#v=1&hide=${Array.from({ length: 500 }, () => 'x').join(',')}`);
    expect(hide.notes).toHaveLength(1);
    expect(hide.notes[0]).toBe(`hide: ignored "x" (known: ${HIDEABLE_CONTROLS.join(', ')}).`);
    const many = decodeExperiment(`#v=1&hide=method,${Array.from({ length: 500 }, (_, i) => `bad${i % 7}`).join(',')}`);
    expect(many.experiment.hide).toEqual(['method']);
    expect(many.notes).toEqual([`hide: ignored "bad0", "bad1", "bad2" and 4 more (known: ${HIDEABLE_CONTROLS.join(', ')}).`]);
    const repeated = decodeExperiment(`#v=1&method=wanda${'&method=magnitude'.repeat(150)}${'&junk'.repeat(150)}`);
    expect(repeated.experiment.prune.method).toBe('wanda');
    expect(repeated.notes).toEqual(['Ignored "junk": not a key=value pair.', 'Ignored 150 repeats of "method" (the first one counts).']);
    for (const note of [...hide.notes, ...many.notes, ...repeated.notes]) expect(note.length).toBeLessThan(300);
  });

  it('caps the notes of a very bad link', () => {
    const { notes } = decodeExperiment(`#v=1&${Array.from({ length: 30 }, (_, i) => `junk${i}=1`).join('&')}`);
    expect(notes).toHaveLength(12);
    expect(notes[11]).toBe('… and 19 more notes about this link.');
  });

  it('notes a missing or newer version but still reads what it can', () => {
    const missing = decodeExperiment('#method=wanda');
    expect(missing.experiment.prune.method).toBe('wanda');
    expect(missing.notes).toEqual(['The link has no schema version (v=1 assumed).']);
    const newer = decodeExperiment('#v=2&method=magnitude');
    expect(newer.experiment.prune.method).toBe('magnitude');
    expect(newer.notes[0]).toContain('newer MoE Lab (v="2")');
  });

  it('keeps only the short hash of a full one', () => {
    const full = 'ab'.repeat(32);
    expect(decodeExperiment(`#v=1&hash=${full}`).experiment.model.hash).toBe('ab'.repeat(8));
  });

  it('never throws on random text, and only ever yields schema-valid experiments', () => {
    const rng = createRng(11);
    const alphabet = 'v=1&%#:,/@model=hub:embedded:sparsity=0.method=wandapattern2:4targets=__proto__constructor\u0000é😀';
    for (let i = 0; i < 3000; i++) {
      const length = rng.int(120);
      const text = Array.from({ length }, () => alphabet[rng.int(alphabet.length)]).join('');
      const { experiment, notes } = decodeExperiment(text);
      expect(PRUNE_METHODS).toContain(experiment.prune.method);
      expect(experiment.prune.sparsity).toBeGreaterThanOrEqual(0);
      expect(experiment.prune.sparsity).toBeLessThanOrEqual(0.95);
      expect(experiment.prune.targets.length).toBeGreaterThan(0);
      expect(notes.length).toBeLessThanOrEqual(12);
      expect(Object.getPrototypeOf(experiment)).toBe(Object.prototype);
    }
  });

  it('refuses an oversized hash as a whole', () => {
    const { experiment, notes } = decodeExperiment(`#v=1&method=wanda&x=${'a'.repeat(5000)}`);
    expect(experiment).toEqual(defaultExperiment());
    expect(notes[0]).toMatch(/at most 4096/);
  });
});
