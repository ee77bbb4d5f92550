/**
 * The 256 special tokens of Llama 3.1, in id order. They follow the 128000 ordinary tokens of
 * `tokenizer.model`, so `<|begin_of_text|>` is 128000 and the last reserved token 128255.
 *
 * The list is Meta's, from `Tokenizer.__init__` in llama-models' Llama 3.1 `tokenizer.py`:
 * eleven named tokens, then `<|reserved_special_token_3|>` .. `<|reserved_special_token_247|>`.
 * (Llama 3.0 named fewer of these slots, and later llama-models releases renamed 128005 to
 * `<|step_id|>` and renumbered the reserved names; 128000, 128001, 128006, 128007 and 128009
 * carry the same names in all of them.)
 *
 * @example
 * ```ts
 * import { LLAMA3_SPECIAL_TOKENS } from "./special_tokens.ts";
 * LLAMA3_SPECIAL_TOKENS.indexOf("<|eot_id|>"); // 9, i.e. id 128009
 * ```
 *
 * @module
 */

/** Number of ordinary (BPE) tokens in Llama 3's `tokenizer.model`. */
export const LLAMA3_BASE_VOCAB_SIZE = 128000;

/** Number of special tokens appended after the ordinary ones. */
export const LLAMA3_NUM_SPECIAL_TOKENS = 256;

const NAMED = [
  "<|begin_of_text|>", // 128000: BOS, starts every sequence
  "<|end_of_text|>", // 128001: end of a plain-text document
  "<|reserved_special_token_0|>",
  "<|reserved_special_token_1|>",
  "<|finetune_right_pad_id|>", // 128004: padding
  "<|reserved_special_token_2|>",
  "<|start_header_id|>", // 128006: opens a chat header: <|start_header_id|>user<|end_header_id|>
  "<|end_header_id|>", // 128007
  "<|eom_id|>", // 128008: end of message (a tool call follows)
  "<|eot_id|>", // 128009: end of turn
  "<|python_tag|>", // 128010: marks a tool call
];

/** Special token texts; index i has id `LLAMA3_BASE_VOCAB_SIZE + i`. */
export const LLAMA3_SPECIAL_TOKENS: readonly string[] = Object.freeze([
  ...NAMED,
  ...Array.from(
    { length: LLAMA3_NUM_SPECIAL_TOKENS - NAMED.length },
    (_, i) => `<|reserved_special_token_${3 + i}|>`,
  ),
]);
