/**
 * `moe-lab train --out DIR [--corpus DIR] [--tokenizer DIR] [--resume] [--steps N] [--json]`: trains the default
 * recipe (src/engine/train/recipe.ts) with the WGSL trainer on the Brown corpus files `npm run corpus` writes and
 * the tokenizer `npm run tokenizer` writes. DIR receives log.jsonl (one JSON object per logged step / validation),
 * recipe.json and state.safetensors (resumable: rerun with --resume after an interruption).
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from '../../engine/errors.ts';
import { parseDocumentIndex, sliceDocuments } from '../../engine/corpus/document-index.ts';
import { loadTokenizer } from '../../engine/tokenizer.ts';
import { MemoryByteSource } from '../../engine/io/byte-source.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../engine/io/safetensors.ts';
import { paramLayout } from '../../engine/train/config.ts';
import { importHfTensors } from '../../engine/train/export.ts';
import { warmStartParameters } from '../../engine/train/init.ts';
import { canResume, DEFAULT_RECIPE, recipeSteps, recipeWithSteps, type TrainRecipe } from '../../engine/train/recipe.ts';
import { decodeTrainState, encodeTrainState, type TrainState } from '../../engine/train/state.ts';
import { documentTokens } from '../../engine/train/tokens.ts';
import { createNodeGpuContext } from '../../gpu/node.ts';
import { runTraining, type TrainLogEntry } from '../../gpu/train/run.ts';
import { parseFlags, UsageError } from '../args.ts';
import type { Command, CommandIo } from './command.ts';

async function readJsonFile(path: string, hint: string): Promise<unknown> {
  if (!existsSync(path)) throw new ModelFileError(path, 'missing-file', `not found (${hint})`);
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new ModelFileError(path, 'bad-json', `not valid JSON (${(error as Error).message})`);
  }
}

/** The documents of one split file (DIR/NAME.txt with DIR/NAME.index.json). */
export async function readSplit(dir: string, name: string): Promise<string[]> {
  const textPath = join(dir, `${name}.txt`);
  const indexPath = join(dir, `${name}.index.json`);
  const index = parseDocumentIndex(await readJsonFile(indexPath, 'run `npm run corpus` first'), indexPath);
  if (!existsSync(textPath)) throw new ModelFileError(textPath, 'missing-file', 'not found (run `npm run corpus` first)');
  return sliceDocuments(new Uint8Array(await readFile(textPath)), index, textPath);
}

/** Token streams of the train and validation splits with the tokenizer in `tokenizerDir`. */
export async function tokenizeCorpus(corpusDir: string, tokenizerDir: string, recipe: TrainRecipe): Promise<{ train: Uint32Array; validation: Uint32Array }> {
  const tokenizerPath = join(tokenizerDir, 'tokenizer.json');
  const json = await readJsonFile(tokenizerPath, 'run `npm run tokenizer` first');
  const configPath = join(tokenizerDir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? await readJsonFile(configPath, '') : undefined;
  const tokenizer = loadTokenizer(json, config, tokenizerPath);
  if (tokenizer.vocabSize !== recipe.model.vocabSize) {
    throw new ModelFileError(tokenizerPath, 'bad-tokenizer', `has ${tokenizer.vocabSize} tokens, the recipe's model ${recipe.model.vocabSize}`);
  }
  const eos = tokenizer.eosTokenId ?? recipe.model.eosTokenId;
  return {
    train: documentTokens(await readSplit(corpusDir, 'train'), tokenizer, eos),
    validation: documentTokens(await readSplit(corpusDir, 'valid'), tokenizer, eos),
  };
}

/** Writes bytes to `path` through a temporary file and a rename, so an interruption never leaves half a state. */
async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  await writeFile(`${path}.tmp`, bytes);
  await rename(`${path}.tmp`, path);
}

/**
 * The warm start's parameters (recipe.warmStart): the source folder's model.safetensors read as f32 in the source
 * shape's layout, split into the recipe's experts. Paths are relative to the working directory (the repo root).
 */
export async function warmStartFromFolder(recipe: TrainRecipe): Promise<Float32Array | undefined> {
  const w = recipe.warmStart;
  if (!w) return undefined;
  const path = join(w.model, 'model.safetensors');
  if (!existsSync(path)) throw new ModelFileError(path, 'missing-file', 'not found (the recipe warm-starts from it)');
  const source = new MemoryByteSource(path, new Uint8Array(await readFile(path)));
  const header = await readSafetensorsHeader(source);
  const tensors = new Map<string, Float32Array>();
  for (const [name, info] of header.tensors) tensors.set(name, bytesToFloat32(info, await readTensorBytes(source, info)));
  const params = importHfTensors(paramLayout(w.from), (name, shape) => {
    const info = header.tensors.get(name);
    if (!info) throw new ModelFileError(path, 'bad-layout', `has no tensor ${name} (the warm start's shape expects it)`);
    if (info.shape.join(',') !== shape.join(',')) throw new ModelFileError(path, 'bad-layout', `${name} is [${info.shape}], expected [${shape}]`);
    return tensors.get(name)!;
  });
  return warmStartParameters(paramLayout(recipe.model), w, params);
}

/** Whether log.jsonl ends the run: a validation on the whole split at `step`. */
async function finishedLog(logPath: string, step: number): Promise<boolean> {
  if (!existsSync(logPath)) return false;
  const entries = (await readFile(logPath, 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TrainLogEntry);
  return entries.some((e) => e.type === 'validation' && e.full && e.step === step);
}

export interface TrainRunOptions {
  out: string;
  corpus: string;
  tokenizer: string;
  resume: boolean;
  recipe: TrainRecipe;
  io: CommandIo;
  json: boolean;
}

/** Runs (or resumes) training into options.out; returns the final state's step and whether the schedule finished. */
export async function trainIntoFolder(o: TrainRunOptions): Promise<{ step: number; finished: boolean }> {
  await mkdir(o.out, { recursive: true });
  const statePath = join(o.out, 'state.safetensors');
  let resume: TrainState | null = null;
  if (o.resume && existsSync(statePath)) {
    resume = await decodeTrainState(statePath, new Uint8Array(await readFile(statePath)));
    if (!canResume(resume.recipe, resume.step, o.recipe)) {
      throw new ModelFileError(statePath, 'bad-layout', 'was saved by a different recipe (remove it or train into another folder)');
    }
    o.io.err(`resuming from step ${resume.step}`);
  } else if (existsSync(statePath)) {
    throw new UsageError(`train: ${statePath} exists; pass --resume to continue it, or use another --out`);
  }
  const logPath = join(o.out, 'log.jsonl');
  if (resume && resume.step === recipeSteps(o.recipe) && (await finishedLog(logPath, resume.step))) {
    o.io.err(`${statePath} is already trained to step ${resume.step} and validated`);
    return { step: resume.step, finished: true };
  }
  const data = await tokenizeCorpus(o.corpus, o.tokenizer, o.recipe);
  o.io.err(`tokens: train ${data.train.length}, validation ${data.validation.length}`);
  await writeFile(join(o.out, 'recipe.json'), `${JSON.stringify(o.recipe, null, 2)}\n`);
  if (!resume) await writeFile(logPath, '');
  const ctx = await createNodeGpuContext({ label: 'moe-lab train' });
  let stopRequested = false;
  const onSignal = () => {
    stopRequested = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const initial = resume ? undefined : await warmStartFromFolder(o.recipe);
    const result = await runTraining(
      ctx,
      o.recipe,
      data,
      resume,
      {
        async log(entry: TrainLogEntry) {
          await appendFile(logPath, `${JSON.stringify(entry)}\n`);
          if (o.json) return;
          if (entry.type === 'step') {
            o.io.err(
              `step ${entry.step}  loss ${entry.loss.toFixed(4)}  |g| ${entry.gradNorm.toFixed(3)}  lr ${entry.lr.toExponential(2)}  ${(entry.tokens / 1e6).toFixed(3)}M tokens  ${entry.seconds.toFixed(0)} s`,
            );
          } else {
            const low = Math.min(...entry.expertLoad.flat());
            o.io.err(
              `validation${entry.full ? ' (full)' : ''} at step ${entry.step}: loss ${entry.loss.toFixed(4)} on ${entry.tokens} tokens; least-loaded expert ${(100 * low).toFixed(1)}%`,
            );
          }
        },
        async saveState(state) {
          await writeAtomically(statePath, encodeTrainState(state));
        },
        shouldStop: () => stopRequested,
      },
      initial,
    );
    return { step: result.step, finished: result.finished };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    ctx.destroy();
  }
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'train the default Mixtral recipe on the Brown corpus with the WGSL trainer (resumable)',
  usage: 'train --out DIR [--corpus DIR (build/corpus/brown)] [--tokenizer DIR (build/tokenizer)] [--resume] [--steps N] [--json]',
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        out: { type: 'string' },
        corpus: { type: 'string' },
        tokenizer: { type: 'string' },
        resume: { type: 'boolean' },
        steps: { type: 'string' },
        json: { type: 'boolean' },
      },
      'train',
    );
    const steps = flags.optionalNumber('steps', { min: 1, integer: true });
    const recipe: TrainRecipe = steps === undefined ? DEFAULT_RECIPE : recipeWithSteps(DEFAULT_RECIPE, steps);
    const result = await trainIntoFolder({
      out: flags.string('out'),
      corpus: flags.optionalString('corpus') ?? 'build/corpus/brown',
      tokenizer: flags.optionalString('tokenizer') ?? 'build/tokenizer',
      resume: flags.flag('resume'),
      recipe,
      io,
      json: flags.flag('json'),
    });
    if (flags.flag('json')) io.out(JSON.stringify(result));
    else io.out(`${result.finished ? 'finished' : 'stopped'} at step ${result.step}; state in ${flags.string('out')}/state.safetensors`);
    return 0;
  },
};
