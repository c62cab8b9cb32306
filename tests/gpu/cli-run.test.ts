/**
 * `moe-lab run --experiment LINK` in-process on the page's default model (brown-moe-3m, read from public/ as the
 * page reads it): the numbers equal those the lab service gives for the same link through the page's request
 * builders (what "Reproduce this experiment" sends), exactly; the masks equal those of `moe-lab prune` with the
 * same settings on the same windows, bit for bit; and the refusals (another model's hash, a Hub link without
 * --model, a URL without its '#...' part) are one clear line each.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluateRequest, pruneRequest, REPRODUCE_EVALUATION } from '../../src/api/experiment-requests.ts';
import { FileByteSource } from '../../src/cli/fs-folder.ts';
import { runCli as run } from '../helpers/cli.ts';
import { folderFetch, siteFolder } from '../../src/cli/node-lab.ts';
import { textRefOf } from '../../src/engine/experiment/text-ref.ts';
import { decodeExperiment } from '../../src/engine/experiment/url.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import type { MaskSet } from '../../src/engine/model/mask-set.ts';
import { masksFromSafetensors } from '../../src/engine/prune/masks-file.ts';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { LabService } from '../../src/lab/lab-service.ts';
import { TextLibrary } from '../../src/lab/texts.ts';
import { gpu } from './gpu-context.ts';
import { maskSetDifference } from './prune-pipeline-helpers.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-cli-run-');
const SITE = siteFolder();
const MODEL_DIR = join(SITE, 'models/brown-moe-3m');
const HASH = '7ecca273f019400a';
/** A small experiment: 8 x 32 calibration tokens of one Brown genre, 520 evaluation tokens over the 13 genres. */
const SETTINGS = `v=1&model=embedded:brown-moe-3m&hash=${HASH}&text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown&ctx=64&evaltokens=520`;

async function readMasks(checkpoint: Checkpoint, file: string): Promise<MaskSet> {
  const source = new FileByteSource(file);
  return masksFromSafetensors(checkpoint.spec, await readSafetensorsHeader(source, { extraDtypes: ['U8'] }), await source.read(0, await source.size()));
}

describe('moe-lab run --experiment', () => {
  it("replays a link: the page's requests through the lab service give the same numbers, moe-lab prune the same masks", async () => {
    const masksOut = join(work, 'run-masks.safetensors');
    const result = await run(['run', '--experiment', `http://127.0.0.1:4317/#${SETTINGS}`, '--masks-out', masksOut, '--json']);
    expect(result.code, result.err.join('\n')).toBe(0);
    // stderr holds progress lines only (and Dawn's own warnings on some drivers).
    expect(result.err.filter((line) => !/^moe-lab run: |^Warning: /.test(line))).toEqual([]);
    const json = JSON.parse(result.out.join('\n'));
    expect(json.model).toMatchObject({ link: 'embedded:brown-moe-3m', hash: HASH });
    expect(json.method).toBe('moe-pruner');
    expect(json.sparsity).toBe(0.5);
    expect(json.calibration).toEqual({ tokens: 256, windows: 8, seqLen: 32 });
    expect(json.dense.genres).toHaveLength(13);

    // The lab service, as the page's worker hosts it, with the page's requests for the same link.
    const { experiment } = decodeExperiment(SETTINGS);
    const lab = new LabService({ assetBase: pathToFileURL(`${SITE}/`).href, fetch: folderFetch(SITE), openGpu: gpu, openCache: async () => null });
    await lab.loadModel({ kind: 'embedded', id: 'brown-moe-3m' });
    const pruning = await lab.prune(pruneRequest(experiment));
    const report = await lab.evaluate(evaluateRequest(experiment, [...REPRODUCE_EVALUATION.variants], REPRODUCE_EVALUATION.byGenre));
    const [masksFile] = await lab.exportFiles({ kind: 'masks', zip: false });
    await lab.unloadModel();
    for (const variant of ['dense', 'pruned'] as const) {
      const page = report.results.find((r) => r.variant === variant)!;
      expect(json[variant].ppl).toBe(page.overall.ppl);
      expect(json[variant].nll).toBe(page.overall.nll);
      expect(json[variant].tokens).toBe(page.overall.tokens);
      expect(json[variant].genres).toEqual(page.genres.map((g) => ({ id: g.id, name: g.name, ppl: g.ppl, nll: g.nll, tokens: g.tokens })));
    }
    expect(json.pruned.ppl).not.toBe(json.dense.ppl);
    expect(json.fidelity).toEqual(report.fidelity);
    expect(json.fidelity.genres).toHaveLength(13);
    // A link without qbits is not quantized (tests/gpu/cli-run-quantize.test.ts: one with qbits).
    expect(json.quantized).toBeUndefined();
    expect(json.prunedWeights).toBe(pruning.overall.pruned);
    expect(readFileSync(masksOut)).toEqual(Buffer.from(masksFile.bytes));

    // moe-lab prune with the same settings on the same text (the genre as the page's text library serves it).
    const texts = new TextLibrary(pathToFileURL(`${SITE}/`).href, folderFetch(SITE));
    const textFile = join(work, 'brown-reviews.txt');
    writeFileSync(textFile, await texts.text(textRefOf(experiment.calibration.text)));
    const out = join(work, 'pruned');
    const pruned = await run([
      'prune',
      ...['--model', MODEL_DIR, '--method', 'moe-pruner', '--sparsity', '0.5', '--text', textFile, '--samples', '8', '--seq-len', '32', '--seed', '1'],
      ...['--out', out, '--masks-only'],
    ]);
    expect(pruned.code, pruned.err.join('\n')).toBe(0);
    const checkpoint = await openCheckpoint(new DirectoryFolder(MODEL_DIR));
    expect(maskSetDifference(await readMasks(checkpoint, masksOut), await readMasks(checkpoint, join(out, 'masks.safetensors')))).toBeNull();
  });

  it('prints a short summary without --json; --model DIR (the same folder on disk) replays the same numbers', async () => {
    const link = `#${SETTINGS.replace('evaltokens=520', 'evaltokens=130')}`;
    const result = await run(['run', '--experiment', link]);
    expect(result.code, result.err.join('\n')).toBe(0);
    const text = result.out.join('\n');
    expect(text).toMatch(/^Brown MoE .*\(7ecca273f019400a\): moe-pruner pruned 50\.00% of 1,769,472 weights\n/);
    const local = await run(['run', '--experiment', link, '--model', MODEL_DIR, '--json']);
    expect(local.code, local.err.join('\n')).toBe(0);
    const json = JSON.parse(local.out.join('\n'));
    expect(json.model).toMatchObject({ dir: MODEL_DIR, hash: HASH });
    expect(text).toContain(`\ndense  ppl ${json.dense.ppl.toFixed(4)} (mean NLL ${json.dense.nll.toFixed(6)} over ${json.dense.tokens} tokens, windows of 64)`);
    expect(text).toContain(`\npruned ppl ${json.pruned.ppl.toFixed(4)} (mean NLL ${json.pruned.nll.toFixed(6)}; `);
  });

  it('refuses another model, a Hub link without --model and a URL without its settings, in one line each', async () => {
    const other = await run(['run', '--experiment', SETTINGS.replace(HASH, '0000000000000000'), '--json']);
    expect(other.code).toBe(1);
    expect(other.out).toEqual([]);
    expect(other.err.at(-1)).toMatch(/content hash is 7ecca273f019400a, the link was made on 0000000000000000/);

    const hub = await run(['run', '--experiment', SETTINGS.replace('embedded:brown-moe-3m', 'hub:org/model')]);
    expect(hub.code).toBe(2);
    expect(hub.err[0]).toMatch(/on the Hugging Face Hub \(hub:org\/model\).*--model DIR/);

    const bare = await run(['run', '--experiment', 'http://127.0.0.1:4317/']);
    expect(bare.code).toBe(2);
    expect(bare.err[0]).toMatch(/without a "#\.\.\." part/);

    const dir = await run(['run', '--experiment', SETTINGS, '--model', join(work, 'missing')]);
    expect(dir.code).toBe(1);
    expect(dir.err.at(-1)).toMatch(/missing: no such folder/);
  });
});
