/**
 * `npm run train:default`: the whole pipeline of a shipped model (the default one unless --recipe names another), from
 * the npm corpus to the model card.
 *   1. `npm run corpus` and `npm run tokenizer` (deterministic: Brown de-tagged and split, BPE of 4096 tokens);
 *   2. `moe-lab train`'s trainIntoFolder with the recipe into build/train/<id> (resumes a stopped run);
 *   3. export to public/models/<id> in Hugging Face Mixtral layout (+ tokenizer, training log);
 *   4. the card's numbers with the project's own tools: `moe-lab info`, `moe-lab ppl` on the held-out text and each
 *      genre, gzip -9 on the same bytes, `moe-lab calibrate` for the expert loads, greedy samples through the
 *      inference forward, sha256 of the checkpoint, `moe-lab prune` (magnitude, Wanda, MoE-Pruner, SparseGPT at 50%)
 *      with `ppl --masks` and `compare-masks` (Wanda vs MoE-Pruner), `moe-lab eval` on BLiMP; README.md,
 *      loss-curves.svg and the public/models/index.json entry.
 * Flags: --skip-data (use the corpus and tokenizer already built), --measure-only (steps 3-4 from a finished state),
 * --make-default (list the model as the page's default in public/models/index.json; without it the default stays),
 * --recipe ID (one of SHIPPED_RECIPES in src/engine/train/recipe.ts; default DEFAULT_RECIPE's id).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { trainIntoFolder, tokenizeCorpus } from '../src/cli/commands/train.ts';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import { main } from '../src/cli/main.ts';
import { parseDocumentIndex, sliceDocuments } from '../src/engine/corpus/document-index.ts';
import { MemoryByteSource } from '../src/engine/io/byte-source.ts';
import { bytesToFloat32, readSafetensorsHeader } from '../src/engine/io/safetensors.ts';
import { openCheckpoint } from '../src/engine/model/checkpoint.ts';
import { loadTokenizer } from '../src/engine/tokenizer.ts';
import { exportHfCheckpoint } from '../src/engine/train/export.ts';
import { lossCurvesSvg } from '../src/engine/train/loss-svg.ts';
import { LESSON_GENERATION } from '../src/engine/experiment/vocabulary.ts';
import {
  renderModelCard,
  type CardBenchmark,
  type CardData,
  type CardLesson,
  type CardPruning,
  type GenreLoad,
  type HeldoutScore,
} from '../src/engine/train/model-card.ts';
import { paramLayout, renormalizesTopK } from '../src/engine/train/config.ts';
import { routerScaleOf } from '../src/engine/train/init.ts';
import { DEFAULT_RECIPE, recipeSteps, SHIPPED_RECIPES, type TrainRecipe } from '../src/engine/train/recipe.ts';
import { decodeTrainState, type TrainState } from '../src/engine/train/state.ts';
import { roundToDtype } from '../src/engine/io/dtype-encoding.ts';
import { generateTokens } from '../src/gpu/eval/generate.ts';
import { GpuModel } from '../src/gpu/model/gpu-model.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { evaluateStream } from '../src/gpu/train/evaluate.ts';
import { GpuTrainer } from '../src/gpu/train/trainer.ts';
import type { TrainLogEntry } from '../src/gpu/train/run.ts';

const { values: flags } = parseArgs({
  options: {
    'skip-data': { type: 'boolean' },
    'measure-only': { type: 'boolean' },
    'make-default': { type: 'boolean' },
    recipe: { type: 'string', default: DEFAULT_RECIPE.id },
  },
});
const recipe = SHIPPED_RECIPES[flags.recipe];
if (!recipe) {
  console.error(`train:default: --recipe ${flags.recipe} is not one of ${Object.keys(SHIPPED_RECIPES).join(', ')}`);
  process.exit(2);
}
const CORPUS = 'build/corpus/brown';
const TOKENIZER = 'build/tokenizer';
const WORK = `build/train/${recipe.id}`;
const MODEL = `public/models/${recipe.id}`;
const HELDOUT = 'public/data/brown/heldout.txt';
const HELDOUT_INDEX = 'public/data/brown/heldout.index.json';
const CALIBRATION = { samples: 128, genreSamples: 64, seqLen: recipe.model.contextLength, seed: 0 };
/** The card's pruning: the page's calibration defaults on the held-out text (64 windows of 128, seed 0). */
const PRUNING = { sparsity: 0.5, methods: ['magnitude', 'wanda', 'moe-pruner', 'sparsegpt'] };
/** BLiMP: the shipped 67 paradigms, the first 50 pairs of each (bench/README.md scores brown-moe-3m the same way). */
const BLIMP = { file: 'public/data/blimp/blimp-200.jsonl', limit: 50 };
const PROMPTS = ['The jury said', 'In the morning, the', 'The President of the United States', 'She looked at him and'];
const REPRODUCE = `npm run train:default -- --recipe ${recipe.id}`;

const io = { out: (t: string) => console.log(t), err: (t: string) => console.error(t) };

function run(command: string, args: string[]): void {
  console.error(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status})`);
}

/** Runs a moe-lab command in this process and returns its stdout. */
async function moeLab(argv: string[]): Promise<string> {
  const out: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => console.error(t) });
  if (code !== 0) throw new Error(`moe-lab ${argv.join(' ')} failed (exit ${code})`);
  return out.join('\n');
}

async function readFinalState(): Promise<TrainState> {
  return decodeTrainState(join(WORK, 'state.safetensors'), new Uint8Array(await readFile(join(WORK, 'state.safetensors'))));
}

async function exportModel(): Promise<{ dtype: 'f16' | 'bf16' }> {
  const state = await readFinalState();
  if (state.step !== recipeSteps(recipe))
    throw new Error(`${WORK}/state.safetensors is at step ${state.step} of ${recipeSteps(recipe)}: finish training first`);
  const exported = exportHfCheckpoint(paramLayout(recipe.model), state.params, recipe.routerAuxLossCoef);
  await mkdir(MODEL, { recursive: true });
  await writeFile(join(MODEL, 'model.safetensors'), exported.safetensors);
  await writeFile(join(MODEL, 'config.json'), `${JSON.stringify(exported.config, null, 2)}\n`);
  const generation = { bos_token_id: recipe.model.bosTokenId, eos_token_id: recipe.model.eosTokenId, transformers_version: '5.17.0' };
  await writeFile(join(MODEL, 'generation_config.json'), `${JSON.stringify(generation, null, 2)}\n`);
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(TOKENIZER, file), join(MODEL, file));
  await copyFile(join(WORK, 'log.jsonl'), join(MODEL, 'training-log.jsonl'));
  console.error(
    `exported ${exported.report.tensors} tensors as ${exported.report.dtype} (max |w| ${exported.report.maxAbs.toFixed(3)}, ${exported.report.flushedToZero} values flushed to 0)`,
  );
  return { dtype: exported.report.dtype };
}

async function pplOf(file: string, masks?: string): Promise<{ tokens: number; nll: number }> {
  const argv = ['ppl', '--model', MODEL, '--text', file, ...(masks ? ['--masks', masks] : []), '--json'];
  const { tokens, nll } = JSON.parse(await moeLab(argv)) as { tokens: number; nll: number };
  return { tokens, nll };
}

/** Each method's masks (CLI defaults: the page's calibration on the held-out text), their perplexity, Wanda vs MoE-Pruner. */
async function pruningOf(densePpl: number): Promise<CardPruning> {
  const masks = (method: string) => join(WORK, 'prune', method, 'masks.safetensors');
  const methods = [];
  for (const method of PRUNING.methods) {
    await moeLab([
      'prune',
      '--model',
      MODEL,
      '--method',
      method,
      '--sparsity',
      String(PRUNING.sparsity),
      '--text',
      HELDOUT,
      '--masks-only',
      '--out',
      join(WORK, 'prune', method),
    ]);
    methods.push({ method, ppl: Math.exp((await pplOf(HELDOUT, masks(method))).nll) });
    console.error(`${method} ${PRUNING.sparsity}: held-out ppl ${methods.at(-1)!.ppl.toFixed(2)}`);
  }
  type Counts = { disagreement: number; prunedA: number };
  const compared = JSON.parse(await moeLab(['compare-masks', masks('wanda'), masks('moe-pruner'), '--model', MODEL, '--json'])) as {
    overall: Counts;
    layers: Counts[];
  };
  return {
    sparsity: PRUNING.sparsity,
    calibration: `\`--text ${HELDOUT}\`: the CLI's and the page's default 64 windows of 128 tokens, seed 0, dense statistics`,
    densePpl,
    methods,
    disagreement: { overall: compared.overall.disagreement, layers: compared.layers.map((l) => l.disagreement), prunedEach: compared.overall.prunedA },
  };
}

async function blimpOf(): Promise<CardBenchmark> {
  const argv = ['eval', '--model', MODEL, '--tasks', BLIMP.file, '--limit', String(BLIMP.limit), '--json'];
  const { accuracy, items } = JSON.parse(await moeLab(argv)) as { accuracy: number; items: number };
  return { file: BLIMP.file, limit: BLIMP.limit, items, accuracy };
}

/** Expert loads [L][E] (fractions of the routed assignments) from `moe-lab calibrate` on a text. */
async function loadOf(file: string, samples: number): Promise<number[][]> {
  // Beside the training run, not beside the text: the held-out text lives in public/ and ships with the page.
  const statsPath = join(WORK, `${basename(file)}.stats.safetensors`);
  await moeLab([
    'calibrate',
    '--model',
    MODEL,
    '--text',
    file,
    '--samples',
    String(samples),
    '--seq-len',
    String(CALIBRATION.seqLen),
    '--seed',
    String(CALIBRATION.seed),
    '--out',
    statsPath,
  ]);
  const source = new MemoryByteSource(statsPath, new Uint8Array(await readFile(statsPath)));
  const header = await readSafetensorsHeader(source);
  const load: number[][] = [];
  for (let l = 0; l < recipe.model.numLayers; l++) {
    const info = header.tensors.get(`layers.${l}.expert_tokens`)!;
    const tokens = bytesToFloat32(info, await source.read(info.byteOffset, info.byteLength));
    const total = tokens.reduce((a, b) => a + b, 0);
    load.push(Array.from(tokens, (n) => n / total));
  }
  return load;
}

/** The first expert whose switching off in every layer changes the lesson's greedy continuation (moe-lab generate). */
async function lessonOf(): Promise<CardLesson> {
  const { prompt, tokens } = LESSON_GENERATION;
  const generate = async (...extra: string[]) => {
    const out = await moeLab(['generate', '--model', MODEL, '--prompt', prompt, '--tokens', String(tokens), '--json', ...extra]);
    return (JSON.parse(out) as { text: string }).text;
  };
  const dense = await generate();
  for (let expert = 0; expert < recipe.model.numExperts; expert++) {
    const steered = await generate('--disable-experts', `*:${expert}`);
    if (steered !== dense) return { prompt, tokens, expert, dense, steered };
  }
  return { prompt, tokens, expert: null, dense, steered: null };
}

async function greedySamples(): Promise<{ prompt: string; continuation: string }[]> {
  const checkpoint = await openCheckpoint(await directoryFolder(MODEL));
  const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig, `${MODEL}/tokenizer.json`);
  const ctx = await createNodeGpuContext({ label: 'model card samples' });
  try {
    const model = await GpuModel.upload(ctx, checkpoint);
    const samples = [];
    for (const prompt of PROMPTS) {
      const ids = tokenizer.encode(prompt, { addSpecialTokens: false });
      const out = await generateTokens(model, ids, { maxNewTokens: 40, sampling: { kind: 'greedy' }, eosTokenId: tokenizer.eosTokenId });
      samples.push({ prompt, continuation: tokenizer.decode(out.ids) });
    }
    model.destroy();
    return samples;
  } finally {
    ctx.destroy();
  }
}

/**
 * The held-out text through the training forward with `moe-lab ppl`'s windows and tokenization, on the trained
 * weights rounded to the exported dtype: the trainer's own evaluation, to set beside the inference forward's.
 */
async function trainerEvaluation(dtype: 'f16' | 'bf16'): Promise<{ tokens: number; nll: number }> {
  const checkpoint = await openCheckpoint(await directoryFolder(MODEL));
  const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig, `${MODEL}/tokenizer.json`);
  const stream = tokenizer.encode(await readFile(HELDOUT, 'utf8'));
  const layout = paramLayout(recipe.model);
  const ctx = await createNodeGpuContext({ label: 'trainer evaluation' });
  try {
    const trainer = new GpuTrainer(ctx, layout, recipe.windows, recipe.routerAuxLossCoef, {
      beta1: recipe.beta1,
      beta2: recipe.beta2,
      eps: recipe.adamEps,
      weightDecay: recipe.weightDecay,
      maxNorm: recipe.maxGradNorm,
    });
    await trainer.setParameters(roundToDtype((await readFinalState()).params, dtype));
    const result = await evaluateStream(trainer, stream);
    trainer.destroy();
    return result;
  } finally {
    ctx.destroy();
  }
}

function bitsPerByte(nll: number, tokens: number, bytes: number): number {
  return (nll * tokens) / (bytes * Math.LN2);
}

async function measure(dtype: 'f16' | 'bf16'): Promise<void> {
  const cardDir = join(WORK, 'card');
  await mkdir(cardDir, { recursive: true });
  const heldoutBytes = new Uint8Array(await readFile(HELDOUT));
  const index = parseDocumentIndex(JSON.parse(await readFile(HELDOUT_INDEX, 'utf8')), HELDOUT_INDEX);
  const documents = sliceDocuments(heldoutBytes, index, HELDOUT);
  const gzipBpb = (bytes: Uint8Array) => (gzipSync(bytes, { level: 9 }).length * 8) / bytes.length;
  const overallPpl = await pplOf(HELDOUT);
  const overall: HeldoutScore = {
    label: 'all',
    documents: index.length,
    bytes: heldoutBytes.length,
    ...overallPpl,
    bitsPerByte: bitsPerByte(overallPpl.nll, overallPpl.tokens, heldoutBytes.length),
    gzipBitsPerByte: gzipBpb(heldoutBytes),
  };
  console.error(
    `held-out: nll ${overall.nll.toFixed(4)} over ${overall.tokens} tokens, ${overall.bitsPerByte.toFixed(3)} bits/byte (gzip -9 ${overall.gzipBitsPerByte.toFixed(3)})`,
  );
  const trainer = await trainerEvaluation(dtype);
  if (trainer.tokens !== overall.tokens) throw new Error(`the trainer scored ${trainer.tokens} tokens, moe-lab ppl ${overall.tokens}`);
  console.error(`the training forward on the same windows: nll ${trainer.nll.toFixed(6)} (moe-lab ppl ${overall.nll.toFixed(6)})`);
  const genres: HeldoutScore[] = [];
  const genreLoads: GenreLoad[] = [];
  const genreIds = [...new Set(index.map((d) => d.genre))];
  for (const genre of genreIds) {
    const members = index.flatMap((d, i) => (d.genre === genre ? [i] : []));
    const text = members.map((i) => documents[i]).join('\n\n');
    const bytes = new TextEncoder().encode(text);
    const file = join(cardDir, `heldout-${genre}.txt`);
    await writeFile(file, bytes);
    const score = await pplOf(file);
    const name = index[members[0]].genreName;
    genres.push({
      label: name,
      documents: members.length,
      bytes: bytes.length,
      ...score,
      bitsPerByte: bitsPerByte(score.nll, score.tokens, bytes.length),
      gzipBitsPerByte: gzipBpb(bytes),
    });
    genreLoads.push({ genre, name, load: await loadOf(file, CALIBRATION.genreSamples) });
  }
  const overallLoad = await loadOf(HELDOUT, CALIBRATION.samples);
  const log = (await readFile(join(WORK, 'log.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TrainLogEntry);
  const steps = log.filter((e): e is Extract<TrainLogEntry, { type: 'step' }> => e.type === 'step');
  const validations = log.filter((e): e is Extract<TrainLogEntry, { type: 'validation' }> => e.type === 'validation');
  const fullValidation = validations.filter((v) => v.full).at(-1) ?? validations.at(-1);
  if (!fullValidation) throw new Error(`${WORK}/log.jsonl has no validation entry`);
  // Wall time: the log's clock restarts when a run resumes, so add up each segment's last reading.
  let seconds = 0;
  let last = 0;
  for (const e of log) {
    if (e.seconds < last) seconds += last;
    last = e.seconds;
  }
  seconds += last;
  const tokensPerStep = recipe.windows * recipe.model.contextLength;
  const curves = {
    title: `${recipe.id}: training and validation loss`,
    train: steps.map((e) => ({ tokens: e.tokens, loss: e.loss })),
    validation: validations.filter((v) => !v.full).map((v) => ({ tokens: v.step * tokensPerStep, loss: v.loss })),
    fullValidation: [{ tokens: fullValidation.step * tokensPerStep, loss: fullValidation.loss }],
  };
  await writeFile(join(MODEL, 'loss-curves.svg'), lossCurvesSvg(curves));
  const info = JSON.parse(await moeLab(['info', '--model', MODEL, '--json'])) as { parameters: CardData['parameters'] };
  const data = await tokenizeCorpus(CORPUS, TOKENIZER, recipe);
  const trainIndex = parseDocumentIndex(JSON.parse(await readFile(join(CORPUS, 'train.index.json'), 'utf8')), 'train.index.json');
  const validIndex = parseDocumentIndex(JSON.parse(await readFile(join(CORPUS, 'valid.index.json'), 'utf8')), 'valid.index.json');
  const checkpointBytes = await readFile(join(MODEL, 'model.safetensors'));
  const ctx = await createNodeGpuContext({ label: 'device name' });
  const device = ctx.caps.description || ctx.caps.device || ctx.caps.vendor;
  ctx.destroy();
  const card: CardData = {
    recipe,
    parameters: info.parameters,
    dtype,
    fileBytes: checkpointBytes.length,
    sha256: createHash('sha256').update(checkpointBytes).digest('hex'),
    data: {
      trainDocuments: trainIndex.length,
      validDocuments: validIndex.length,
      heldoutDocuments: index.length,
      trainTokens: data.train.length,
      validTokens: data.validation.length,
      trainBytes: (await readFile(join(CORPUS, 'train.txt'))).length,
    },
    training: {
      steps: steps.at(-1)!.step,
      tokensSeen: steps.at(-1)!.tokens,
      seconds,
      device: `${device} (Mesa's CPU Vulkan driver on 2 shared cores)`,
      lastTrainLoss: steps.slice(-10).reduce((a, e) => a + e.loss, 0) / Math.min(10, steps.length),
      validationLoss: fullValidation.loss,
      validationLoad: fullValidation.expertLoad,
    },
    heldout: { overall, genres, ctx: recipe.model.contextLength, trainerNll: trainer.nll },
    routing: {
      overall: overallLoad,
      genres: genreLoads,
      calibration: `${CALIBRATION.samples} windows of ${CALIBRATION.seqLen} tokens drawn with seed ${CALIBRATION.seed}; ${CALIBRATION.genreSamples} windows per genre`,
    },
    samples: await greedySamples(),
    pruning: await pruningOf(Math.exp(overall.nll)),
    blimp: await blimpOf(),
    lesson: await lessonOf(),
    reproduce: REPRODUCE,
    retrain:
      `Trained on a CPU (Mesa's lavapipe on 2 cores shared with other work) in ${(seconds / 60).toFixed(0)} minutes, so the shape is small ` +
      `and it saw ${(steps.at(-1)!.tokens / data.train.length).toFixed(1)} epochs of a small corpus. Where a GPU is at hand, retrain a larger ` +
      'shape for longer (hidden 256-320, 6 layers, expert FFN about 2.5x hidden, several epochs; about 20 minutes on one GPU): edit ' +
      `the recipe (${recipe.id}) in src/engine/train/recipe.ts and run the command above.`,
  };
  await writeFile(join(MODEL, 'README.md'), renderModelCard(card));
  await writeFile(join(WORK, 'card.json'), `${JSON.stringify(card, null, 2)}\n`);
  await updateIndex(card);
  console.error(
    `wrote ${MODEL}/README.md; held-out ${overall.bitsPerByte.toFixed(3)} bits/byte; least-loaded expert ${(100 * Math.min(...overallLoad.flat())).toFixed(1)}%`,
  );
}

/**
 * What tells a warm start that keeps its source's experts from the source in the page's model list: the layers
 * whose routers it sharpened (', sharper routers in layers 2-3'), else nothing.
 */
function sharpenedNote(r: TrainRecipe): string {
  const w = r.warmStart;
  if (!w || w.splitExperts !== 1) return '';
  const layers = Array.from({ length: r.model.numLayers }, (_, l) => l).filter((l) => routerScaleOf(w, l) > 1);
  if (layers.length === 0) return '';
  const first = layers[0];
  const last = layers[layers.length - 1];
  const span = layers.length === 1 ? `layer ${first}` : last - first === layers.length - 1 ? `layers ${first}-${last}` : `layers ${layers.join(', ')}`;
  return `, sharper routers in ${span}`;
}

/**
 * Lists the model in public/models/index.json; with --make-default as the default (every other entry stays, not
 * default), else every other entry keeps its flag.
 */
async function updateIndex(card: CardData): Promise<void> {
  const path = 'public/models/index.json';
  const entries = existsSync(path) ? (JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>[]) : [];
  const c = card.recipe.model;
  const family = renormalizesTopK(c) ? 'Mixtral' : 'Qwen2-MoE';
  const entry = {
    id: recipe.id,
    name: `Brown MoE ${(card.parameters.total / 1e6).toFixed(1)}M (${family}, ${c.numExperts} experts, top-${c.topK}${renormalizesTopK(c) ? '' : ' unnormalized'}${sharpenedNote(card.recipe)})`,
    path: `models/${recipe.id}`,
    default: flags['make-default'] === true,
    ...(card.lesson?.expert != null ? { lessonExpert: card.lesson.expert } : {}),
    description:
      `A ${(card.parameters.total / 1e6).toFixed(1)}M-parameter ${family} (${c.numLayers} layers, ${c.numExperts} experts top-${c.topK}, hidden ${c.hiddenSize}, ` +
      `vocab ${c.vocabSize}) trained by MoE Lab's WGSL trainer on the Brown Corpus; ${card.heldout.overall.bitsPerByte.toFixed(2)} bits per byte on the held-out Brown text.`,
  };
  const others = entries.filter((e) => e.id !== recipe.id).map((e) => (entry.default ? { ...e, default: false } : e));
  await writeFile(path, `${JSON.stringify(entry.default ? [entry, ...others] : [...others, entry], null, 2)}\n`);
}

if (!flags['measure-only']) {
  if (!flags['skip-data']) {
    run('npm', ['run', 'corpus']);
    run('npm', ['run', 'tokenizer']);
  }
  const result = await trainIntoFolder({ out: WORK, corpus: CORPUS, tokenizer: TOKENIZER, resume: true, recipe, io, json: false });
  if (!result.finished) {
    console.error(`stopped at step ${result.step}; run the same command again to resume`);
    process.exit(1);
  }
}
const { dtype } = await exportModel();
await measure(dtype);
