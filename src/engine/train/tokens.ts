/** Documents -> one token stream for training: each document encoded without special tokens, then end-of-text. */
import type { TextTokenizer } from '../tokenizer.ts';

export function documentTokens(documents: readonly string[], tokenizer: TextTokenizer, endOfText: number): Uint32Array {
  const parts = documents.map((d) => tokenizer.encode(d, { addSpecialTokens: false }));
  const stream = new Uint32Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let at = 0;
  for (const p of parts) {
    stream.set(p, at);
    at += p.length;
    stream[at++] = endOfText;
  }
  return stream;
}
