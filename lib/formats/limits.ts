/**
 * The limits llama-bolts puts on what an untrusted file may ask for, in one table. Every reader
 * checks its input against these where the value enters (a length field, a nesting level, a
 * count), so a damaged or hostile file ends in one short error message instead of a stack
 * overflow, an out-of-memory abort or a long hang. README's "Limits on untrusted input" lists
 * the same numbers.
 *
 * Each limit sits far above anything a real Llama 3 checkpoint, config or tokenizer holds
 * (Llama 3.1 405B: 126 layers, width 16384, 128256 tokens).
 *
 * @example
 * ```ts
 * import { LIMITS } from "./limits.ts";
 *
 * LIMITS.jsonDepth; // 64: deeper JSON is refused before anything walks it
 * ```
 *
 * @module
 */

/** The limits, by what they bound. */
export const LIMITS = Object.freeze({
  /** Nesting of arrays and objects in any JSON file (params.json, config.json, headers). */
  jsonDepth: 64,
  /** Characters of an untrusted value quoted in an error message. */
  excerptChars: 60,
  /** Arguments a pickle may pass to one call (REDUCE, NEWOBJ); torch passes at most 7. */
  pickleCallArgs: 16,
  /** Bytes of one pickled integer (LONG1/LONG4); torch's are at most 8. */
  pickleLongBytes: 64,
  /** Transformer blocks a config may declare (each must also be present as tensors). */
  layers: 4096,
  /** Model width, feed-forward size and head counts a config may declare. */
  dim: 1 << 20,
  /** Tokens in a vocabulary (tokenizer.model, tokenizer.json, vocab_size). */
  vocabSize: 1 << 22,
  /** Bytes of one vocabulary token; Llama 3's longest has 128. */
  tokenBytes: 4096,
  /** Dimensions of one tensor (the model's have 1 or 2). */
  tensorRank: 8,
});
