/**
 * Fuzzing config.json and model.safetensors.index.json handling with seeded mutations of the fixtures' files:
 * whatever a key holds, only ModelFileError comes out of normalizeConfig, of resolving the fixture's weights under
 * the resulting spec, and of grouping an index by shard, each case quickly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { ModelFileError } from '../../src/engine/errors.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { shardsOfIndex } from '../../src/engine/model/checkpoint.ts';
import { normalizeConfig } from '../../src/engine/model/config.ts';
import { countParameters } from '../../src/engine/model/spec.ts';
import { resolveWeightNames } from '../../src/engine/model/weights.ts';
import { createRng } from '../../src/engine/random.ts';
import { FIXTURES, FIXTURES_B, fixtureDir } from '../helpers/fixtures.ts';
import { hostileNumber, pick, randomJson, randomString } from '../helpers/fuzz.ts';

const CASE_TIME_LIMIT_MS = 1000;

function onlyModelFileErrors(label: string, run: () => void): 'ok' | string {
  const start = performance.now();
  let outcome: 'ok' | string = 'ok';
  try {
    run();
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw new Error(`case ${label}: ${(error as Error)?.stack ?? String(error)}`, { cause: error });
    expect(error.message, label).not.toMatch(/[\n\r]/);
    outcome = error.problem;
  }
  expect(performance.now() - start, label).toBeLessThan(CASE_TIME_LIMIT_MS);
  return outcome;
}

describe('config and index fuzzing', () => {
  it('normalizes thousands of mutated configs into a spec or a ModelFileError, and checks weights against it', async () => {
    const fixtures = await Promise.all(
      [...FIXTURES, ...FIXTURES_B].map(async (name) => {
        const config = JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8')) as Record<string, unknown>;
        const source = await new DirectoryFolder(fixtureDir(name)).open('model.safetensors');
        return { name, config, tensors: (await readSafetensorsHeader(source!)).tensors };
      }),
    );
    const rng = createRng(7);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const fixture = pick(rng, fixtures);
      const config: Record<string, unknown> = structuredClone(fixture.config);
      for (let edits = 1 + rng.int(3); edits > 0; edits--) {
        const key = rng.int(10) === 0 ? randomString(rng, 12) : pick(rng, Object.keys(config));
        const value = pick(rng, [undefined, hostileNumber(rng), randomJson(rng, 3), rng.int(2) === 0, null]);
        if (value === undefined) delete config[key];
        else config[key] = value;
      }
      const outcome = onlyModelFileErrors(`config-${i}`, () => {
        const spec = normalizeConfig('fuzz/config.json', config);
        countParameters(spec);
        resolveWeightNames(spec, fixture.tensors, 'fuzz/model.safetensors');
      });
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(100);
    expect(outcomes.get('bad-config') ?? 0).toBeGreaterThan(100);
    expect((outcomes.get('missing-tensor') ?? 0) + (outcomes.get('shape-mismatch') ?? 0)).toBeGreaterThan(10);
  });

  it('groups mutated and random indexes by shard or refuses them with a ModelFileError', () => {
    const rng = createRng(11);
    const weightMap = { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' };
    for (let i = 0; i < 2000; i++) {
      const index: Record<string, unknown> =
        rng.int(3) === 0 ? (randomJson(rng, 4) as Record<string, unknown>) : { metadata: {}, weight_map: { ...weightMap } };
      if (index && typeof index === 'object' && typeof index.weight_map === 'object' && index.weight_map) {
        (index.weight_map as Record<string, unknown>)[randomString(rng, 10)] = pick(rng, [
          randomString(rng, 20),
          hostileNumber(rng),
          '../x.safetensors',
          '.safetensors',
          'x.safetensors',
        ]);
      }
      onlyModelFileErrors(`index-${i}`, () => shardsOfIndex('fuzz/model.safetensors.index.json', index ?? {}));
    }
  });
});
