/**
 * `npm run tokenizer -- [--vocab N] [--input FILE] [--out DIR] [--min-count N] [--max-length N] [--eval FILE]...`
 * Trains the default model's byte-level BPE on the Brown train split (run `npm run corpus` first) and writes
 * tokenizer.json, tokenizer_config.json and training.json (settings, input hash, and the compression measured by
 * loading the written files with @huggingface/tokenizers, the loader the product uses). Deterministic: BPE
 * training has no random choice (ties go to the smaller pair of ids), so the same input gives the same files.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { parseFlags, UsageError } from '../../src/cli/args.ts';
import { ModelFileError } from '../../src/engine/errors.ts';
import { byteLevelBpeFiles } from '../../src/engine/tokenizer/bpe-json.ts';
import { trainByteLevelBpe } from '../../src/engine/tokenizer/bpe-train.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const USAGE =
  'npm run tokenizer -- [--vocab N (4096)] [--input FILE (build/corpus/brown/train.txt)] [--out DIR (build/tokenizer)] ' +
  '[--min-count N (2)] [--max-length N (2048)] [--eval FILE ...]';

export interface Compression {
  file: string;
  bytes: number;
  tokens: number;
  bytesPerToken: number;
  /** decode(encode(text)) === text through @huggingface/tokenizers. */
  roundTrip: boolean;
}

function readInput(path: string, hint: string): string {
  if (!existsSync(path)) throw new ModelFileError(path, 'missing-file', `not found${hint}`);
  const bytes = readFileSync(path);
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  if (text.length === 0) throw new ModelFileError(path, 'bad-layout', 'the file is empty');
  return text;
}

function measure(tokenizer: Tokenizer, path: string): Compression {
  const text = readInput(path, '');
  const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
  const bytes = Buffer.byteLength(text, 'utf8');
  return { file: relative(repoRoot, path), bytes, tokens: ids.length, bytesPerToken: bytes / ids.length, roundTrip: tokenizer.decode(ids) === text };
}

function main(argv: string[]): void {
  const options = {
    vocab: { type: 'string' },
    input: { type: 'string' },
    out: { type: 'string' },
    'min-count': { type: 'string' },
    'max-length': { type: 'string' },
    eval: { type: 'string', multiple: true },
    help: { type: 'boolean' },
  } as const;
  const flags = parseFlags(argv, options, 'tokenizer');
  if (flags.flag('help')) {
    console.log(`usage: ${USAGE}`);
    return;
  }
  const vocabSize = flags.number('vocab', 4096, { min: 258, max: 65536, integer: true });
  const minPairCount = flags.number('min-count', 2, { min: 1, integer: true });
  const modelMaxLength = flags.number('max-length', 2048, { min: 1, integer: true });
  const input = resolve(flags.optionalString('input') ?? join(repoRoot, 'build/corpus/brown/train.txt'));
  const outDir = resolve(flags.optionalString('out') ?? join(repoRoot, 'build/tokenizer'));
  const evalFlag = flags.values.eval as unknown as string[] | undefined;
  const evalFiles = (evalFlag ?? [join(repoRoot, 'build/corpus/brown/valid.txt'), join(repoRoot, 'public/data/brown/heldout.txt')])
    .map((f) => resolve(f))
    .filter((f) => evalFlag !== undefined || existsSync(f));

  const text = readInput(input, ' (run `npm run corpus` first, or pass --input FILE)');
  for (const f of evalFiles) if (!existsSync(f)) throw new ModelFileError(f, 'missing-file', 'not found (--eval)');
  const started = performance.now();
  const model = trainByteLevelBpe(text, {
    vocabSize,
    minPairCount,
    onProgress: (size, target) => process.stderr.write(`\rtokenizer: vocabulary ${size}/${target}`),
  });
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write('\n');

  const files = byteLevelBpeFiles(model, { modelMaxLength });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'tokenizer.json'), files.tokenizerJson);
  writeFileSync(join(outDir, 'tokenizer_config.json'), `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);

  // Measure through the files as written, loaded the way the product loads a model's tokenizer.
  const tokenizer = new Tokenizer(
    JSON.parse(readFileSync(join(outDir, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(outDir, 'tokenizer_config.json'), 'utf8')),
  );
  const compression = evalFiles.map((f) => measure(tokenizer, f));
  const report = {
    trainer: 'byte-level BPE (src/engine/tokenizer/bpe-train.ts)',
    input: { file: relative(repoRoot, input), bytes: Buffer.byteLength(text, 'utf8'), sha256: createHash('sha256').update(text).digest('hex') },
    requestedVocabSize: vocabSize,
    vocabSize: model.vocab.length,
    merges: model.merges.length,
    specialTokens: model.specialTokens,
    minPairCount,
    stoppedBy: model.stoppedBy,
    distinctPieces: model.words.length,
    pieces: model.pieceCount,
    trainSeconds: Number(seconds.toFixed(2)),
    compression,
  };
  writeFileSync(join(outDir, 'training.json'), `${JSON.stringify(report, null, 2)}\n`);

  console.log(
    `tokenizer: ${model.vocab.length} tokens (${model.merges.length} merges, stopped by ${model.stoppedBy}) from ${report.input.bytes} bytes in ${report.trainSeconds} s -> ${relative(repoRoot, outDir)}/`,
  );
  for (const c of compression) {
    console.log(`tokenizer: ${c.file}: ${c.tokens} tokens, ${c.bytesPerToken.toFixed(3)} bytes/token, round trip ${c.roundTrip ? 'exact' : 'FAILED'}`);
  }
  if (compression.some((c) => !c.roundTrip)) process.exitCode = 1;
}

try {
  main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || error instanceof ModelFileError || error instanceof RangeError) {
    console.error(error instanceof UsageError ? error.message : `tokenizer: ${error.message}`);
    if (error instanceof UsageError) console.error(`usage: ${USAGE}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  } else {
    throw error;
  }
}
