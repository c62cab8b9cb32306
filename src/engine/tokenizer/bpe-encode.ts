/**
 * Reference byte-level BPE encoder, version 1: obviously right rather than fast. Used by the tests to check that
 * a trained model's merges, applied by rank, give the segmentation the trainer ended with and the encoding
 * @huggingface/tokenizers computes from the saved tokenizer.json. The product encodes with that library.
 */
import { preTokenize, splitOnSpecialTokens, toByteLevel } from './bpe-byte-level.ts';
import type { BpeModel } from './bpe-train.ts';

export interface BpeEncoder {
  /** Token strings of one pre-token given in the byte-level alphabet. */
  encodePiece(piece: string): string[];
  /** Token ids of a text: special tokens matched first, the rest pre-tokenized and merged. */
  encode(text: string): number[];
}

// Byte-level strings never contain a space (the space byte is written `Ġ`), so it can join a pair into a key.
const joinPair = (left: string, right: string): string => `${left} ${right}`;

export function createBpeEncoder(model: BpeModel): BpeEncoder {
  const rankOf = new Map(model.merges.map(([left, right], rank) => [joinPair(left, right), rank]));
  const idOf = new Map(model.vocab.map((token, id) => [token, id]));

  const encodePiece = (piece: string): string[] => {
    let parts = [...piece];
    for (;;) {
      // The lowest-ranked merge present anywhere in the piece, then all of its occurrences left to right.
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rank = rankOf.get(joinPair(parts[i], parts[i + 1]));
        if (rank !== undefined && rank < bestRank) bestRank = rank;
      }
      if (bestRank === Infinity) return parts;
      const [left, right] = model.merges[bestRank];
      const next: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (parts[i] === left && parts[i + 1] === right) {
          next.push(left + right);
          i++;
        } else {
          next.push(parts[i]);
        }
      }
      parts = next;
    }
  };

  const idOfToken = (token: string): number => {
    const id = idOf.get(token);
    if (id === undefined) throw new Error(`token '${token}' is not in the vocabulary`);
    return id;
  };

  return {
    encodePiece,
    encode(text) {
      return splitOnSpecialTokens(text, model.specialTokens).flatMap((segment) =>
        segment.special ? [idOfToken(segment.text)] : preTokenize(segment.text).flatMap((p) => encodePiece(toByteLevel(p)).map(idOfToken)),
      );
    },
  };
}
