/**
 * Byte-level BPE training (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units",
 * Alg. 1; byte-level as in GPT-2, Radford et al. 2019 §2.2), producing what a tokenizer.json BPE model holds.
 *
 * Vocabulary ids: special tokens first, then the 256 byte tokens (all always present, so every input encodes),
 * then one token per merge in the order learned. Merging: the most frequent adjacent pair over all pre-tokens
 * (weighted by how often each pre-token occurs), ties to the pair with the smaller (left id, right id). Counts
 * are updated incrementally: an index pair -> pre-tokens holding it says which words a merge touches, only
 * those are rewritten, and a lazy max-heap (bpe-pair-heap.ts) finds the next pair.
 */
import { BYTE_CHARS_IN_ID_ORDER, preTokenize, splitOnSpecialTokens, toByteLevel } from './bpe-byte-level.ts';
import { PairHeap } from './bpe-pair-heap.ts';

export const END_OF_TEXT = '<|endoftext|>';

/** Pair keys pack (left, right) into one number; ids must stay below this. */
const MAX_VOCAB = 1 << 16;

export interface BpeTrainOptions {
  /** Total vocabulary size: special tokens + 256 byte tokens + merges. */
  vocabSize: number;
  /** Default: [`<|endoftext|>`]. Never split or merged; cut out of the training text before pre-tokenizing. */
  specialTokens?: readonly string[];
  /** Stop merging once the most frequent pair occurs fewer times than this (default 2). */
  minPairCount?: number;
  /** Called every 256 merges and at the end. */
  onProgress?: (vocabSize: number, targetVocabSize: number) => void;
}

export interface TrainedWord {
  /** The pre-token in the byte-level alphabet. */
  piece: string;
  /** How often it occurs in the training text. */
  count: number;
  /** Its segmentation after the last merge. */
  ids: number[];
}

export interface BpeModel {
  /** Token of each id: special tokens verbatim, the rest in the byte-level alphabet. */
  vocab: string[];
  /** Merges in rank order, as pairs of token strings. */
  merges: [string, string][];
  specialTokens: string[];
}

export interface BpeTrainResult extends BpeModel {
  /** Every distinct pre-token of the training text with its final segmentation (what the merges imply). */
  words: TrainedWord[];
  /** Pre-tokens in the training text, counted with repetition. */
  pieceCount: number;
  /** Why training stopped. */
  stoppedBy: 'vocab-size' | 'min-pair-count';
}

const pairKey = (left: number, right: number): number => left * MAX_VOCAB + right;

/** Counts pre-tokens of the text outside special tokens, keyed by their byte-level form. */
function countPieces(texts: Iterable<string>, specialTokens: readonly string[]): { counts: Map<string, number>; total: number } {
  const counts = new Map<string, number>();
  let total = 0;
  for (const text of texts) {
    for (const segment of splitOnSpecialTokens(text, specialTokens)) {
      if (segment.special) continue;
      for (const piece of preTokenize(segment.text)) {
        counts.set(piece, (counts.get(piece) ?? 0) + 1);
        total++;
      }
    }
  }
  // Different strings can share a byte-level form only through lone surrogates (both become U+FFFD's bytes).
  const byteLevel = new Map<string, number>();
  for (const [piece, count] of counts) {
    const key = toByteLevel(piece);
    byteLevel.set(key, (byteLevel.get(key) ?? 0) + count);
  }
  return { counts: byteLevel, total };
}

/** Trains a byte-level BPE model on one text or several (documents), deterministically. */
export function trainByteLevelBpe(texts: string | Iterable<string>, options: BpeTrainOptions): BpeTrainResult {
  const specialTokens = [...(options.specialTokens ?? [END_OF_TEXT])];
  const minPairCount = options.minPairCount ?? 2;
  const baseSize = specialTokens.length + 256;
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < baseSize || options.vocabSize > MAX_VOCAB) {
    throw new RangeError(
      `vocabulary size ${options.vocabSize} must be an integer in ${baseSize}..${MAX_VOCAB} (${specialTokens.length} special + 256 byte tokens + merges)`,
    );
  }
  if (new Set(specialTokens).size !== specialTokens.length || specialTokens.some((t) => t === '')) {
    throw new RangeError(`special tokens must be distinct and non-empty: ${JSON.stringify(specialTokens)}`);
  }

  const vocab: string[] = [...specialTokens, ...BYTE_CHARS_IN_ID_ORDER];
  const idOf = new Map<string, number>(vocab.map((token, id) => [token, id]));
  const merges: [string, string][] = [];

  const { counts, total } = countPieces(typeof texts === 'string' ? [texts] : texts, specialTokens);
  const pieces = [...counts.keys()];
  const wordCounts = pieces.map((p) => counts.get(p)!);
  const words: number[][] = pieces.map((p) => [...p].map((c) => idOf.get(c)!));

  // pair -> live count, and pair -> words that held it when last touched (may hold words that lost it since).
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  words.forEach((ids, w) => {
    for (let i = 0; i + 1 < ids.length; i++) {
      const key = pairKey(ids[i], ids[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + wordCounts[w]);
      let holders = pairWords.get(key);
      if (!holders) pairWords.set(key, (holders = new Set()));
      holders.add(w);
    }
  });
  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(key, count);

  let stoppedBy: BpeTrainResult['stoppedBy'] = 'vocab-size';
  while (vocab.length < options.vocabSize) {
    const best = popLivePair(heap, pairCounts);
    if (!best || best.count < minPairCount) {
      stoppedBy = 'min-pair-count';
      break;
    }
    const left = Math.floor(best.key / MAX_VOCAB);
    const right = best.key % MAX_VOCAB;
    const merged = vocab[left] + vocab[right];
    // Two different merges can spell the same token ("ab"+"c", "a"+"bc"); like the Hugging Face trainer, the
    // second reuses the first's id, so the vocabulary stays a set of distinct strings.
    let mergedId = idOf.get(merged);
    if (mergedId === undefined) {
      mergedId = vocab.length;
      vocab.push(merged);
      idOf.set(merged, mergedId);
    }
    merges.push([vocab[left], vocab[right]]);
    applyMerge(left, right, mergedId, best.key, words, wordCounts, pairCounts, pairWords, heap);
    if (merges.length % 256 === 0) options.onProgress?.(vocab.length, options.vocabSize);
  }
  options.onProgress?.(vocab.length, options.vocabSize);

  return {
    vocab,
    merges,
    specialTokens,
    words: pieces.map((piece, w) => ({ piece, count: wordCounts[w], ids: words[w] })),
    pieceCount: total,
    stoppedBy,
  };
}

/** Pops until an entry's count is the pair's live count (stale entries of lowered pairs are re-queued). */
function popLivePair(heap: PairHeap, pairCounts: Map<number, number>): { key: number; count: number } | undefined {
  for (;;) {
    const entry = heap.pop();
    if (!entry) return undefined;
    const live = pairCounts.get(entry.key) ?? 0;
    if (live === entry.count) return entry;
    if (live > 0 && live < entry.count) heap.push(entry.key, live);
    // live > entry.count: the raise pushed a fresher entry with the live count, which is still queued or done.
  }
}

/** Replaces left+right by mergedId in every word holding the pair and updates pair counts, index and heap. */
function applyMerge(
  left: number,
  right: number,
  mergedId: number,
  mergedKey: number,
  words: number[][],
  wordCounts: number[],
  pairCounts: Map<number, number>,
  pairWords: Map<number, Set<number>>,
  heap: PairHeap,
): void {
  const holders = pairWords.get(mergedKey) ?? new Set<number>();
  pairWords.delete(mergedKey);
  const delta = new Map<number, number>();
  const add = (key: number, by: number): void => {
    delta.set(key, (delta.get(key) ?? 0) + by);
  };
  for (const w of holders) {
    const ids = words[w];
    const next: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      // Left to right, non-overlapping: "a a a" with (a, a) -> "aa a", as the encoder does it.
      if (ids[i] === left && i + 1 < ids.length && ids[i + 1] === right) {
        next.push(mergedId);
        i++;
      } else {
        next.push(ids[i]);
      }
    }
    if (next.length === ids.length) continue; // a stale holder: the pair left this word in an earlier merge
    const count = wordCounts[w];
    for (let i = 0; i + 1 < ids.length; i++) add(pairKey(ids[i], ids[i + 1]), -count);
    for (let i = 0; i + 1 < next.length; i++) {
      const key = pairKey(next[i], next[i + 1]);
      add(key, count);
      if (next[i] === mergedId || next[i + 1] === mergedId) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
    }
    words[w] = next;
  }
  for (const [key, change] of delta) {
    if (change === 0) continue;
    const count = (pairCounts.get(key) ?? 0) + change;
    if (count > 0) pairCounts.set(key, count);
    else pairCounts.delete(key);
    if (change > 0) heap.push(key, count);
  }
}
