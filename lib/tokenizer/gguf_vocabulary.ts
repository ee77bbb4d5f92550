/**
 * A Llama 3 vocabulary as GGUF's `tokenizer.ggml.*` metadata describes it (llama.cpp's
 * `gpt2` tokenizer model with the `llama-bpe` pre-tokenizer):
 *
 * - `tokens`: every token's text, ordinary tokens spelled in GPT-2's byte-to-unicode alphabet
 *   (each byte one printable character: the space byte is `Ġ`), special tokens as their text;
 * - `token_type`: 1 (normal) for ordinary tokens, 3 (control) for special ones;
 * - `merges`: `"left right"` pairs in priority order. tiktoken has no merge list, only ranks:
 *   a token of rank r is the merge of any two shorter tokens that spell it, and those merges
 *   take priority r. {@linkcode mergesOfRanks} lists, for each token in rank order, every such
 *   split, ordered by the ranks of its left then right part (what Hugging Face's converter of
 *   tiktoken files writes into `tokenizer.json`, and so into the GGUF files made from it).
 *
 * @example
 * ```ts
 * import { ggufVocabularyOf } from "./gguf_vocabulary.ts";
 * import { Tokenizer } from "./tokenizer.ts";
 *
 * const vocab = ggufVocabularyOf(Tokenizer.load("/models/Llama3.2-1B/tokenizer.model"));
 * vocab.tokens[220]; // "Ġ", the space byte
 * vocab.merges[0]; // "Ġ Ġ"
 * ```
 *
 * @module
 */

import { gpt2ByteDecoder } from "./hf_tokenizer.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** llama.cpp's token types (`llama_token_type`) as stored in `tokenizer.ggml.token_type`. */
export const GGUF_TOKEN_TYPES = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

/** The `tokenizer.ggml.*` contents of a vocabulary. */
export interface GgufVocabulary {
  /** Token texts by id (GPT-2 alphabet for ordinary tokens). */
  readonly tokens: readonly string[];
  /** Token types by id ({@linkcode GGUF_TOKEN_TYPES}). */
  readonly tokenTypes: Int32Array;
  /** `"left right"` merges in priority order. */
  readonly merges: readonly string[];
  /** `<|begin_of_text|>`. */
  readonly bosId: number;
  /** `<|end_of_text|>`. */
  readonly eosId: number;
  /** `<|eot_id|>`, or -1. */
  readonly eotId: number;
  /** `<|eom_id|>`, or -1. */
  readonly eomId: number;
}

/**
 * GPT-2's byte-to-unicode alphabet: byte → the character that spells it.
 *
 * @returns 256 one-character strings.
 */
export function gpt2ByteEncoder(): string[] {
  const decoder = gpt2ByteDecoder();
  const encoder = new Array<string>(256);
  for (let code = 0; code < decoder.length; code++) {
    if (decoder[code] >= 0) encoder[decoder[code]] = String.fromCharCode(code);
  }
  return encoder;
}

/**
 * A tokenizer's vocabulary as GGUF metadata.
 *
 * @param tokenizer A Llama 3 tokenizer (ordinary tokens, then specials).
 * @returns Tokens, types, merges and the special ids.
 */
export function ggufVocabularyOf(tokenizer: Tokenizer): GgufVocabulary {
  const ranks: Uint8Array[] = [];
  for (let id = 0; id < tokenizer.baseVocabSize; id++) ranks.push(tokenizer.tokenBytes(id));
  const encoder = gpt2ByteEncoder();
  const spell = (bytes: Uint8Array) => {
    let text = "";
    for (const b of bytes) text += encoder[b];
    return text;
  };
  const tokens: string[] = ranks.map(spell);
  const tokenTypes = new Int32Array(tokenizer.vocabSize).fill(GGUF_TOKEN_TYPES.normal);
  const decoder = new TextDecoder();
  for (let id = tokenizer.baseVocabSize; id < tokenizer.vocabSize; id++) {
    tokens.push(decoder.decode(tokenizer.tokenBytes(id)));
    tokenTypes[id] = GGUF_TOKEN_TYPES.control;
  }
  const merges = mergesOfRanks(ranks).map(([left, right]) =>
    `${spell(ranks[left])} ${spell(ranks[right])}`
  );
  return {
    tokens,
    tokenTypes,
    merges,
    bosId: tokenizer.bosId,
    eosId: tokenizer.eosId,
    eotId: tokenizer.eotId,
    eomId: tokenizer.eomId,
  };
}

/**
 * The merges that rebuild a ranked byte vocabulary: for each token of two or more bytes, in
 * rank order, every split into two tokens, ordered by the left part's rank, then the right's.
 *
 * @param ranks Token bytes by rank.
 * @returns `[left id, right id]` pairs in priority order.
 */
export function mergesOfRanks(ranks: readonly Uint8Array[]): Array<[number, number]> {
  const ids = new Map<string, number>();
  ranks.forEach((bytes, id) => ids.set(String.fromCharCode(...bytes), id));
  const merges: Array<[number, number]> = [];
  const splits: Array<[number, number]> = [];
  for (const bytes of ranks) {
    if (bytes.length < 2) continue;
    const text = String.fromCharCode(...bytes);
    splits.length = 0;
    for (let k = 1; k < text.length; k++) {
      const left = ids.get(text.slice(0, k));
      const right = ids.get(text.slice(k));
      if (left !== undefined && right !== undefined) splits.push([left, right]);
    }
    splits.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const split of splits) merges.push(split);
  }
  return merges;
}

/**
 * A stand-in vocabulary for a model that has no tokenizer (the tests' tiny random models, whose
 * vocabularies are smaller than Llama 3's): ids below 256 are the single bytes, the rest control
 * tokens `<|token_N|>`; no merges. It lets llama.cpp load the file; prompts are given as ids.
 *
 * @param vocabSize The model's vocabulary size.
 * @returns The vocabulary; BOS and EOS are the first control token, else id 0.
 */
export function placeholderVocabulary(vocabSize: number): GgufVocabulary {
  const encoder = gpt2ByteEncoder();
  const tokens: string[] = [];
  const tokenTypes = new Int32Array(vocabSize).fill(GGUF_TOKEN_TYPES.normal);
  for (let id = 0; id < vocabSize; id++) {
    if (id < 256) {
      tokens.push(encoder[id]);
    } else {
      tokens.push(`<|token_${id}|>`);
      tokenTypes[id] = GGUF_TOKEN_TYPES.control;
    }
  }
  const special = vocabSize > 256 ? 256 : 0;
  return { tokens, tokenTypes, merges: [], bosId: special, eosId: special, eotId: -1, eomId: -1 };
}
