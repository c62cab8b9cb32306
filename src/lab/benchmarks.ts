/**
 * Zero-shot benchmarks in the lab (docs/evaluation.md): task files parsed (src/engine/eval/tasks.ts), every answer
 * encoded as lm-evaluation-harness encodes it (src/engine/eval/loglikelihood.ts), all sequences of all tasks scored
 * together on the GPU (src/gpu/eval/loglikelihood.ts) per variant, then accuracies per task, per BLiMP field,
 * linguistics term and paradigm, and per item when asked. The same items and sequences for every variant.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { BenchmarkItem, BenchmarkReport, BenchmarkRequest, BenchmarkTaskResult, BenchmarkVariantResult } from '../api/benchmarks.ts';
import type { Variant } from '../api/lab.ts';
import { ModelFileError } from '../engine/errors.ts';
import {
  chooseAnswer,
  contextTokenRule,
  encodeRequest,
  groupAccuracy,
  TARGET_DELIMITER,
  type ScoringRequest,
  type ScoringTokenizer,
} from '../engine/eval/loglikelihood.ts';
import { limitTask, parseTaskFile, type TaskFile } from '../engine/eval/tasks.ts';
import type { MaskSet } from '../engine/model/mask-set.ts';
import { logLikelihoods } from '../gpu/eval/loglikelihood.ts';
import { uploadMasks, type GpuMaskSet } from '../gpu/model/gpu-mask-set.ts';
import { masksOf } from './evaluate.ts';
import { progressStep, type LabSession } from './lab-session.ts';

/** One item's answers as (context, continuation) pairs: BLiMP's good then bad sentence with no context. */
function answersOf(task: TaskFile, index: number): { context: string; answers: string[] } {
  if (task.format === 'minimal-pairs') {
    const pair = task.items[index];
    return { context: '', answers: [pair.good, pair.bad] };
  }
  const item = task.items[index];
  return { context: item.context, answers: item.choices };
}

/** Parsed and limited task files, each item's requests (one per answer) in order. */
export function benchmarkRequests(
  request: Pick<BenchmarkRequest, 'tasks' | 'limit'>,
  tokenizer: ScoringTokenizer,
  maxTokens: number,
): { tasks: TaskFile[]; requests: ScoringRequest[][][] } {
  if (!request.tasks.length) throw new EngineError({ kind: 'bad-request', message: 'Give at least one task file.' });
  if (request.limit !== undefined && (!Number.isInteger(request.limit) || request.limit < 1)) {
    throw new EngineError({ kind: 'bad-request', message: `The item limit must be a positive integer; got ${request.limit}.` });
  }
  const tasks = request.tasks.map((input) => limitTask(parseTaskFile(input.file, input.text), request.limit));
  const requests = tasks.map((task) =>
    task.items.map((item, i) => {
      const { context, answers } = answersOf(task, i);
      return answers.map((answer, a) => {
        try {
          return encodeRequest(tokenizer, context, TARGET_DELIMITER + answer, maxTokens);
        } catch (error) {
          if (!(error instanceof RangeError)) throw error;
          throw new ModelFileError(task.file, 'unsupported', `line ${item.line}: answer ${a}: ${error.message}`);
        }
      });
    }),
  );
  return { tasks, requests };
}

function taskResult(task: TaskFile, requests: ScoringRequest[][], lls: number[][], perItem: boolean): BenchmarkTaskResult {
  const items: BenchmarkItem[] = task.items.map((item, i) => {
    const answers = answersOf(task, i).answers;
    const { predicted, predictedNorm } = chooseAnswer(lls[i], answers);
    const gold = task.format === 'minimal-pairs' ? 0 : task.items[i].gold;
    const base = {
      line: item.line,
      ids: requests[i].map((r) => r.ids),
      scored: requests[i].map((r) => r.ids.length - r.scoredFrom),
      logLikelihoods: lls[i],
      correct: predicted === gold,
    };
    if (task.format === 'minimal-pairs') return { ...base, uid: task.items[i].uid, pairId: task.items[i].pairId };
    return { ...base, correctNorm: predictedNorm === gold };
  });
  const correct = items.filter((item) => item.correct).length;
  const pairs = task.format === 'minimal-pairs' ? task.items : [];
  const pairVerdicts = pairs.map((pair, i) => ({ pair, correct: items[i].correct }));
  const group = (key: (p: (typeof pairs)[number]) => string) =>
    groupAccuracy(
      pairVerdicts,
      (v) => key(v.pair),
      (v) => v.correct,
    );
  return {
    name: task.name,
    file: task.file,
    format: task.format,
    metric: 'acc',
    accuracy: correct / items.length,
    items: items.length,
    correct,
    accNorm: task.format === 'multiple-choice' ? items.filter((item) => item.correctNorm).length / items.length : null,
    fields: group((p) => p.field),
    terms: group((p) => p.linguisticsTerm),
    paradigms: group((p) => p.uid),
    ...(perItem ? { perItem: items } : {}),
  };
}

/** The benchmarks under explicit masks, one per variant of `request.variants` (null: dense). */
export async function benchmarksWithMasks(
  session: LabSession,
  request: BenchmarkRequest,
  masks: (GpuMaskSet | null)[],
  options: OperationOptions,
): Promise<BenchmarkReport> {
  const started = performance.now();
  const tokenizer = session.tokenizer('the benchmarks');
  const { tasks, requests } = benchmarkRequests(request, tokenizer, session.contextLimit);
  const flat = requests.flat(2);
  const model = await session.model(options);
  const results: BenchmarkVariantResult[] = [];
  for (const [v, variant] of request.variants.entries()) {
    const sums = await logLikelihoods(model, flat, {
      masks: masks[v],
      maxSeqLen: session.contextLimit,
      signal: options.signal,
      onProgress: (p) => options.onProgress?.(progressStep('compute', `Scoring the ${variant} model`, v * p.total + p.done, request.variants.length * p.total)),
    });
    let k = 0;
    const taskResults = tasks.map((task, t) => {
      const lls = requests[t].map((answers) => answers.map(() => sums[k++]));
      return taskResult(task, requests[t], lls, request.perItem);
    });
    const items = taskResults.reduce((n, r) => n + r.items, 0);
    const correct = taskResults.reduce((n, r) => n + r.correct, 0);
    results.push({ variant, accuracy: correct / items, items, tasks: taskResults });
  }
  const distinct = new Map(flat.map((r) => [`${r.scoredFrom}:${r.ids.join(',')}`, r.ids.length]));
  return {
    contextToken: contextTokenRule(tokenizer),
    results,
    sequences: distinct.size,
    tokens: [...distinct.values()].reduce((a, b) => a + b, 0),
    seconds: (performance.now() - started) / 1000,
  };
}

/** The Engine's benchmarks: dense and/or the pruning in force. */
export function runBenchmarks(session: LabSession, request: BenchmarkRequest, options: OperationOptions): Promise<BenchmarkReport> {
  if (!request.variants.length) throw new EngineError({ kind: 'bad-request', message: 'Choose dense, pruned or both to benchmark.' });
  return benchmarksWithMasks(
    session,
    request,
    request.variants.map((v: Variant) => masksOf(session, v)),
    options,
  );
}

/** The CLI's benchmarks: the dense model, or the model under a masks file (reported as the pruned variant). */
export async function benchmarksWithMaskSet(
  session: LabSession,
  request: Omit<BenchmarkRequest, 'variants'>,
  maskSet: MaskSet | null,
  options: OperationOptions,
): Promise<BenchmarkReport> {
  const model = await session.model(options);
  const masks = maskSet ? await uploadMasks(model, maskSet) : null;
  try {
    return await benchmarksWithMasks(session, { ...request, variants: [masks ? 'pruned' : 'dense'] }, [masks], options);
  } finally {
    masks?.destroy();
  }
}
