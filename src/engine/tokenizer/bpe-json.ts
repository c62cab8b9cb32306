/**
 * A trained byte-level BPE model as the two files a Hugging Face model folder carries: tokenizer.json (the
 * `tokenizers` serialization, format "1.0", read by the Rust crate, transformers' AutoTokenizer and
 * @huggingface/tokenizers alike) and tokenizer_config.json (what transformers and tokenizers.js read beside it).
 * Field for field as GPT-2's and SmolLM's files, with the choices that make decode(encode(text)) === text.
 */
import type { BpeModel } from './bpe-train.ts';

export interface TokenizerFiles {
  /** tokenizer.json text: pretty-printed, vocabulary in id order, one merge per line. */
  tokenizerJson: string;
  tokenizerConfig: Record<string, unknown>;
}

export interface TokenizerFileOptions {
  /** tokenizer_config.json `model_max_length`: the longest sequence the model is trained for. */
  modelMaxLength: number;
}

/** The ByteLevel component settings: no prefix space (it would add a byte that decode cannot tell apart). */
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } as const;

function addedToken(content: string, id: number): Record<string, unknown> {
  // normalized: false -> matched in the raw text; special: true -> skip_special_tokens may drop it.
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export function byteLevelBpeFiles(model: BpeModel, options: TokenizerFileOptions): TokenizerFiles {
  const specialIds = model.specialTokens.map((token) => model.vocab.indexOf(token));
  const VOCAB = '"@@VOCAB@@"';
  const MERGES = '"@@MERGES@@"';
  const skeleton = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: model.specialTokens.map((token, i) => addedToken(token, specialIds[i])),
    normalizer: null,
    pre_tokenizer: byteLevel,
    // ByteLevel post-processing only trims offsets; it adds no tokens, so BOS/EOS placement stays with the caller.
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: '@@VOCAB@@',
      merges: '@@MERGES@@',
    },
  };
  // JSON.stringify would reorder integer-like keys ("0", "12") of the vocab object first; write it by hand.
  const vocabText = `{\n${model.vocab.map((token, id) => `      ${JSON.stringify(token)}: ${id}`).join(',\n')}\n    }`;
  const mergesText = `[\n${model.merges.map(([l, r]) => `      [${JSON.stringify(l)}, ${JSON.stringify(r)}]`).join(',\n')}\n    ]`;
  const tokenizerJson = `${JSON.stringify(skeleton, null, 2)
    .replace(VOCAB, () => vocabText)
    .replace(MERGES, () => mergesText)}\n`;

  const endOfText = model.specialTokens[0] ?? null;
  const tokenizerConfig: Record<string, unknown> = {
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      model.specialTokens.map((token, i) => {
        const { id: _id, ...fields } = addedToken(token, specialIds[i]);
        return [String(specialIds[i]), fields];
      }),
    ),
    bos_token: endOfText,
    eos_token: endOfText,
    unk_token: endOfText,
    // Both libraries default to true, which deletes the space in " ." " ," " n't" ... on decode: not lossless.
    clean_up_tokenization_spaces: false,
    model_max_length: options.modelMaxLength,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  return { tokenizerJson, tokenizerConfig };
}
