/**
 * Zero-shot benchmarks by log-likelihood (docs/evaluation.md): the request the page and the CLI send, and the
 * report, per variant (dense, pruned), per task file, per BLiMP field, linguistics term and paradigm, and per item
 * when asked. Plain data: it crosses the worker boundary.
 */
import type { GroupAccuracy, ContextTokenRule } from '../engine/eval/loglikelihood.ts';
import type { TaskFormat } from '../engine/eval/tasks.ts';
import type { Variant } from './lab.ts';

/** One task file: its name (which names the task and its errors) and its text (jsonl, src/engine/eval/tasks.ts). */
export interface BenchmarkTaskInput {
  file: string;
  text: string;
}

export interface BenchmarkRequest {
  tasks: BenchmarkTaskInput[];
  /** At most this many items per task (a BLiMP file: per paradigm), as lm-evaluation-harness's --limit. */
  limit?: number;
  variants: Variant[];
  /** Report every item (ids, log-likelihoods, correct). */
  perItem: boolean;
}

/** One item as scored: per answer (BLiMP: good, then bad) its sequence and summed log-likelihood. */
export interface BenchmarkItem {
  /** 1-based line in the task file. */
  line: number;
  /** Per answer, the token ids fed to the model: the context (the context token when there is no context) first. */
  ids: number[][];
  /** Per answer, how many of the last ids are scored (the continuation). */
  scored: number[];
  /** Per answer, the summed log-likelihood (nats) of the scored tokens. */
  logLikelihoods: number[];
  /** acc: the gold answer has the highest log-likelihood (ties: the first answer). */
  correct: boolean;
  /** Multiple choice: acc_norm's verdict (log-likelihood / UTF-8 bytes of the answer). */
  correctNorm?: boolean;
  /** BLiMP: the pair's paradigm and id. */
  uid?: string;
  pairId?: string;
}

export interface BenchmarkTaskResult {
  name: string;
  file: string;
  format: TaskFormat;
  /** The accuracy metric reported as `accuracy`: 'acc' (lm-evaluation-harness's name). */
  metric: 'acc';
  accuracy: number;
  items: number;
  correct: number;
  /** Multiple choice: acc_norm; null for minimal pairs. */
  accNorm: number | null;
  /** BLiMP: accuracy per field, linguistics term and paradigm (UID); empty for multiple choice. */
  fields: GroupAccuracy[];
  terms: GroupAccuracy[];
  paradigms: GroupAccuracy[];
  /** Present when the request asked for items. */
  perItem?: BenchmarkItem[];
}

export interface BenchmarkVariantResult {
  variant: Variant;
  /** acc over every item of every task (each item counts once). */
  accuracy: number;
  items: number;
  tasks: BenchmarkTaskResult[];
}

export interface BenchmarkReport {
  /** What conditions an answer without context (docs/evaluation.md). */
  contextToken: { rule: ContextTokenRule; id: number | null };
  results: BenchmarkVariantResult[];
  /** Sequences scored per variant (identical ones once) and their tokens. */
  sequences: number;
  tokens: number;
  seconds: number;
}

/** An item whose verdict differs between the dense and the pruned model. */
export interface FlippedItem {
  task: string;
  dense: BenchmarkItem;
  pruned: BenchmarkItem;
}

/** Items right under one model and wrong under the other, task by task in file order (empty without both variants). */
export function flippedItems(report: BenchmarkReport): FlippedItem[] {
  const dense = report.results.find((r) => r.variant === 'dense');
  const pruned = report.results.find((r) => r.variant === 'pruned');
  if (!dense || !pruned) return [];
  return dense.tasks.flatMap((task, t) =>
    (task.perItem ?? []).flatMap((item, i) => {
      const other = pruned.tasks[t].perItem?.[i];
      return other && other.correct !== item.correct ? [{ task: task.name, dense: item, pruned: other }] : [];
    }),
  );
}
