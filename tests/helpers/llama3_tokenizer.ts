/**
 * Meta's Llama 3 tokenizer and independent implementations of it, for comparing encodings:
 *
 * - {@linkcode ours}: our {@linkcode Tokenizer} over the real `tokenizer.model` (derived from
 *   npm by `tools/derive_tokenizer.ts` and cached outside the repo).
 * - {@linkcode rustTiktoken}: OpenAI's tiktoken itself — its Rust core and fancy-regex,
 *   compiled to WebAssembly (npm `tiktoken`). This is what Meta's reference code runs, so on
 *   any disagreement it is the authority.
 * - {@linkcode jsTiktoken}: `js-tiktoken`, a JavaScript port that runs the same pattern with
 *   JavaScript's regex engine (so it deviates where JS and Rust regex semantics differ).
 *
 * Both peers are configured here from Meta's `tokenizer.py` (pattern and special tokens
 * transcribed below), not from our library's constants.
 *
 * @module
 */

import { Tiktoken as RustTiktoken } from "tiktoken";
import { Tiktoken as JsTiktoken } from "js-tiktoken/lite";
import { ensureLlama3Tokenizer } from "../../tools/derive_tokenizer.ts";
import { Tokenizer } from "../../lib/tokenizer/tokenizer.ts";

/** `Tokenizer.pat_str` from Meta's llama-models `tokenizer.py` (Llama 3 / 3.1), verbatim. */
export const META_PATTERN = String
  .raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/**
 * `Tokenizer.__init__` of Meta's Llama 3.1 `tokenizer.py`, transcribed: eleven named special
 * tokens, then `reserved_special_token_{3 + i}` for the remaining 245 of 256, numbered from
 * 128000.
 */
export function metaSpecialTokens(): Record<string, number> {
  const named = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
  ];
  const all = [...named];
  for (let i = 0; i < 256 - named.length; i++) all.push(`<|reserved_special_token_${3 + i}|>`);
  return Object.fromEntries(all.map((text, i) => [text, 128000 + i]));
}

let cachedPath: Promise<string> | undefined;
/** Path of the cached real `tokenizer.model` (derived on first use). */
export function tokenizerPath(): Promise<string> {
  return cachedPath ??= ensureLlama3Tokenizer();
}

let cachedOurs: Tokenizer | undefined;
/** Our tokenizer over the real vocabulary. */
export async function ours(): Promise<Tokenizer> {
  return cachedOurs ??= Tokenizer.load(await tokenizerPath());
}

/** The encoders a peer must offer: ordinary text, or with every special token allowed. */
export interface Peer {
  encode(text: string): number[];
  encodeAllowSpecial(text: string): number[];
}

let cachedRust: Peer | undefined;
/** tiktoken's Rust core (WebAssembly build) with Meta's pattern and special tokens. */
export async function rustTiktoken(): Promise<Peer> {
  if (cachedRust) return cachedRust;
  const file = await Deno.readTextFile(await tokenizerPath());
  const encoding = new RustTiktoken(file, metaSpecialTokens(), META_PATTERN);
  return cachedRust = {
    encode: (text) => Array.from(encoding.encode_ordinary(text)),
    encodeAllowSpecial: (text) => Array.from(encoding.encode(text, "all")),
  };
}

let cachedJs: Peer | undefined;
/** js-tiktoken (a JavaScript regex) with Meta's pattern and special tokens. */
export async function jsTiktoken(): Promise<Peer> {
  if (cachedJs) return cachedJs;
  const file = await Deno.readTextFile(await tokenizerPath());
  // js-tiktoken's compact rank format: "! <first rank> <base64> <base64> ...".
  const tokens = file.split("\n").filter((line) => line !== "").map((line) => line.split(" ")[0]);
  const encoding = new JsTiktoken({
    pat_str: META_PATTERN,
    special_tokens: metaSpecialTokens(),
    bpe_ranks: `! 0 ${tokens.join(" ")}`,
  });
  return cachedJs = {
    encode: (text) => encoding.encode(text, [], []),
    encodeAllowSpecial: (text) => encoding.encode(text, "all", []),
  };
}

/** tiktoken's Rust core over a small made-up vocabulary (token bytes in rank order). */
export function rustTiktokenWithRanks(
  ranks: Uint8Array[],
): { encode(text: string): number[]; free(): void } {
  const lines = ranks.map((bytes, rank) => `${btoa(String.fromCharCode(...bytes))} ${rank}`);
  const encoding = new RustTiktoken(lines.join("\n"), {}, META_PATTERN);
  return {
    encode: (text) => Array.from(encoding.encode_ordinary(text)),
    free: () => encoding.free(),
  };
}

/** A small deterministic pseudo-random generator (mulberry32), for reproducible fuzzing. */
export function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
