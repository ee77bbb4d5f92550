/**
 * Llama 3's tokenizer from a Hugging Face model folder: `tokenizer.json` for the vocabulary,
 * `tokenizer_config.json` and `generation_config.json` for the special tokens' roles and the
 * ids that end a generation.
 *
 * `tokenizer.json` holds the same byte-level BPE as Meta's `tokenizer.model`, spelled
 * differently:
 *
 * - `model.vocab` maps each token to its id (= its tiktoken rank), its bytes written in GPT-2's
 *   byte-to-unicode alphabet: every byte is one printable character (`Ġ` is the space byte
 *   0x20, `Ċ` the newline 0x0a); see {@linkcode gpt2ByteDecoder}.
 * - `model.merges` lists pairs to merge, in priority order. tiktoken needs no merge list (the
 *   rank of the merged bytes is the priority), and for a vocabulary converted from tiktoken the
 *   list is sorted by that rank; we check that it is, so the merge order we do not read is the
 *   one we would follow.
 * - `added_tokens` are the special tokens (`<|begin_of_text|>` 128000 …), right after the vocab.
 * - The pre-tokenizer must be Llama 3's split pattern followed by the byte-level step.
 *
 * The result is a {@linkcode Tokenizer} built with {@linkcode Tokenizer.fromVocabulary}, so
 * encoding and decoding are the same code as for `tokenizer.model`.
 *
 * @example
 * ```ts
 * import { loadHuggingFaceTokenizer } from "./hf_tokenizer.ts";
 *
 * const { tokenizer, stopIds } = loadHuggingFaceTokenizer("/models/Llama-3.2-1B-Instruct");
 * tokenizer.encode("This is a test sentence.", { bos: true }); // [128000, 2028, 374, ...]
 * stopIds; // [128001, 128008, 128009], from generation_config.json
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { TokenizerError } from "../errors.ts";
import { briefValue, excerpt } from "../formats/excerpt.ts";
import { parseJsonWithLimits } from "../formats/json_limits.ts";
import { LIMITS } from "../formats/limits.ts";
import { Tokenizer, type VocabularySpecials } from "./tokenizer.ts";

/** The vocabulary's file name in a Hugging Face model folder. */
export const HF_TOKENIZER_FILE = "tokenizer.json";
/** Special token roles (`bos_token`, `eos_token`). */
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
/** Generation defaults, among them `eos_token_id`: the ids that end a generation. */
export const GENERATION_CONFIG_FILE = "generation_config.json";

/**
 * Llama 3's pre-tokenizer pattern (`pat_str` of Meta's `tokenizer.py`), which the `Split` step
 * of a Llama 3 `tokenizer.json` carries verbatim.
 */
export const LLAMA3_SPLIT_PATTERN = String
  .raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** What {@linkcode parseTokenizerJson} reads out of `tokenizer.json`. */
export interface TokenizerJsonVocabulary {
  /** Ordinary token bytes; index = id = rank. */
  readonly ranks: Uint8Array[];
  /** Added (special) token texts; the i-th has id `ranks.length + i`. */
  readonly specials: string[];
}

/** A Hugging Face folder's tokenizer and the ids that end a generation. */
export interface HuggingFaceTokenizer {
  /** The tokenizer. */
  readonly tokenizer: Tokenizer;
  /**
   * Ids that end a generation: `generation_config.json`'s `eos_token_id`, else `config.json`'s,
   * else `tokenizer_config.json`'s `eos_token`.
   */
  readonly stopIds: readonly number[];
}

const FIX = "use the tokenizer.json of a Llama 3.x model (any Llama 3 fine-tune has it)";

/**
 * GPT-2's byte-to-unicode alphabet, inverted: character code → byte. The printable bytes
 * `!`..`~`, `¡`..`¬` and `®`..`ÿ` stand for themselves; the other 68 (controls, space, 0x7f-0xa0,
 * 0xad) are written as U+0100, U+0101, ... in byte order.
 *
 * @returns A table of 324 entries, -1 for characters outside the alphabet.
 */
export function gpt2ByteDecoder(): Int16Array {
  const decoder = new Int16Array(0x144).fill(-1);
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) ||
      (byte >= 0xae && byte <= 0xff);
    decoder[printable ? byte : 0x100 + shifted++] = byte;
  }
  return decoder;
}

/**
 * Reads the vocabulary of a Llama 3 `tokenizer.json`.
 *
 * @param json The file's text.
 * @param path The file, for messages.
 * @returns Ordinary token bytes by rank and the added tokens' texts.
 * @throws {TokenizerError} When the file is not JSON, is not byte-level BPE with Llama 3's
 * pre-tokenizer, a token is not in GPT-2's alphabet, ids have gaps or repeats, the merges are
 * not in rank order, or the added tokens do not follow the vocabulary as `<|name|>` tokens.
 */
export function parseTokenizerJson(json: string, path: string): TokenizerJsonVocabulary {
  const fail = (message: string): never => {
    throw new TokenizerError(message, { path, fix: FIX });
  };
  const result = parseJsonWithLimits(json);
  if ("error" in result) fail(result.error);
  const parsed = (result as { value: unknown }).value;
  const root = asObject(parsed) ?? fail("expected a JSON object (a tokenizers library file)");
  const model = asObject(root.model) ?? fail(`expected a "model" object, found none`);
  if (model.type !== undefined && model.type !== "BPE") {
    fail(`expected a BPE model, found "model.type" ${brief(model.type)}`);
  }
  if (model.byte_fallback === true) {
    fail(
      "expected byte-level BPE, found byte_fallback (a SentencePiece vocabulary, not Llama 3's)",
    );
  }
  if (root.normalizer != null) {
    fail(`expected no normalizer (Llama 3 has none), found ${brief(root.normalizer)}`);
  }
  checkPreTokenizer(root.pre_tokenizer, fail);

  // The vocabulary: token (GPT-2 alphabet) → id, ids 0..n-1 each once.
  const vocab = asObject(model.vocab) ?? fail(`expected "model.vocab" to be an object`);
  const decoder = gpt2ByteDecoder();
  const entries = Object.entries(vocab);
  if (entries.length > LIMITS.vocabSize) {
    fail(`expected at most ${LIMITS.vocabSize} tokens in "model.vocab", found ${entries.length}`);
  }
  const ranks = new Array<Uint8Array>(entries.length);
  const byId = new Array<string>(entries.length);
  // One buffer for every token's bytes (a token has as many bytes as characters).
  let total = 0;
  for (const [token] of entries) {
    if (token.length > LIMITS.tokenBytes) {
      fail(
        `expected tokens of at most ${LIMITS.tokenBytes} bytes, found one of ${token.length}: ` +
          excerpt(token),
      );
    }
    total += token.length;
  }
  const data = new Uint8Array(total);
  let used = 0;
  for (const [token, id] of entries) {
    if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= entries.length) {
      fail(
        `expected token ids 0..${entries.length - 1} in "model.vocab", found ${excerpt(token)}: ${
          brief(id)
        }`,
      );
    }
    const rank = id as number;
    if (byId[rank] !== undefined) {
      fail(`tokens ${excerpt(byId[rank])} and ${excerpt(token)} share id ${rank}`);
    }
    byId[rank] = token;
    for (let i = 0; i < token.length; i++) {
      const code = token.charCodeAt(i);
      const byte = code < decoder.length ? decoder[code] : -1;
      if (byte < 0) {
        fail(
          `token ${excerpt(token)} (id ${rank}) has U+${
            code.toString(16).toUpperCase().padStart(4, "0")
          }, which is not in GPT-2's byte-to-unicode alphabet`,
        );
      }
      data[used + i] = byte;
    }
    ranks[rank] = data.subarray(used, used + token.length);
    used += token.length;
  }
  checkMerges(model.merges, vocab, fail);

  // Added tokens: ids n, n+1, ... in order, each of the form <|name|>.
  const added = Array.isArray(root.added_tokens) ? root.added_tokens : [];
  if (added.length > LIMITS.vocabSize) {
    fail(`expected at most ${LIMITS.vocabSize} added tokens, found ${added.length}`);
  }
  const specials = added.map((token: unknown) => {
    const entry = asObject(token);
    if (!entry || !Number.isSafeInteger(entry.id) || typeof entry.content !== "string") {
      fail(`expected added tokens of the form {"id": n, "content": "..."}, found ${brief(token)}`);
    }
    return { id: entry!.id as number, content: entry!.content as string };
  }).sort((a, b) => a.id - b.id);
  specials.forEach(({ id, content }, i) => {
    if (id !== ranks.length + i) {
      fail(
        `expected added token ${excerpt(content)} to have id ${ranks.length + i} ` +
          `(added tokens follow the ${ranks.length} vocabulary tokens without gaps), found ${id}`,
      );
    }
    // The tokenizer finds specials by scanning from "<|" to the next "|>".
    const closes = content.indexOf("|>", 2);
    if (!content.startsWith("<|") || closes < 0 || closes !== content.length - 2) {
      fail(
        `expected added tokens of the form <|name|> (as Llama 3's are), found ${excerpt(content)}`,
      );
    }
  });
  return { ranks, specials: specials.map((s) => s.content) };
}

/**
 * Loads the tokenizer of a Hugging Face model folder.
 *
 * @param dir The folder: `tokenizer.json`, and optionally `tokenizer_config.json` and
 *   `generation_config.json`.
 * @param configEosTokenId `config.json`'s `eos_token_id`, the fallback for the stop ids.
 * @returns The tokenizer and the ids that end a generation.
 * @throws {TokenizerError} When `tokenizer.json` is missing or invalid, or a role names a
 * token the vocabulary does not have.
 */
export function loadHuggingFaceTokenizer(
  dir: string,
  configEosTokenId?: unknown,
): HuggingFaceTokenizer {
  const path = join(dir, HF_TOKENIZER_FILE);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new TokenizerError(`cannot read tokenizer.json: ${(error as Error).message}`, {
      path,
      fix: "download the model folder's tokenizer.json too (it sits next to config.json)",
      cause: error,
    });
  }
  const { ranks, specials } = parseTokenizerJson(text, path);
  const tokenizerConfigPath = join(dir, TOKENIZER_CONFIG_FILE);
  const tokenizerConfig = readOptionalJson(tokenizerConfigPath) ?? {};
  const generationConfigPath = join(dir, GENERATION_CONFIG_FILE);
  const generationConfig = readOptionalJson(generationConfigPath) ?? {};

  const idOf = (text: string): number | undefined => {
    const i = specials.indexOf(text);
    return i < 0 ? undefined : ranks.length + i;
  };
  const vocabSize = ranks.length + specials.length;
  const role = (key: string): number | undefined => {
    const value = tokenizerConfig[key];
    if (value == null) return undefined;
    const content = typeof value === "string" ? value : asObject(value)?.content;
    const id = typeof content === "string" ? idOf(content) : undefined;
    if (id === undefined) {
      throw new TokenizerError(
        `expected "${key}" to name one of tokenizer.json's added tokens, found ${brief(value)}`,
        { path: tokenizerConfigPath, fix: FIX },
      );
    }
    return id;
  };
  const ids = (value: unknown, key: string, file: string): number[] | undefined => {
    if (value == null) return undefined;
    const list = Array.isArray(value) ? value : [value];
    if (!list.every((id) => Number.isSafeInteger(id) && id >= 0 && id < vocabSize)) {
      throw new TokenizerError(
        `expected "${key}" to be token ids below ${vocabSize}, found ${brief(value)}`,
        { path: file, fix: FIX },
      );
    }
    return list as number[];
  };

  const bosFromGeneration = ids(
    generationConfig.bos_token_id,
    "bos_token_id",
    generationConfigPath,
  );
  const eosToken = role("eos_token");
  const specialsRoles: VocabularySpecials = {
    texts: specials,
    bos: role("bos_token") ?? bosFromGeneration?.[0] ?? idOf("<|begin_of_text|>"),
    eos: idOf("<|end_of_text|>") ?? eosToken,
    eot: idOf("<|eot_id|>") ?? eosToken,
  };
  const tokenizer = Tokenizer.fromVocabulary(ranks, specialsRoles, path);
  const stopIds = ids(generationConfig.eos_token_id, "eos_token_id", generationConfigPath) ??
    ids(configEosTokenId, "eos_token_id", join(dir, "config.json")) ??
    (eosToken === undefined ? [tokenizer.eosId] : [eosToken]);
  return { tokenizer, stopIds: Object.freeze([...new Set(stopIds)]) };
}

/** The pre-tokenizer must be Llama 3's Split pattern, then ByteLevel without its own regex. */
function checkPreTokenizer(value: unknown, fail: (message: string) => never): void {
  const root = asObject(value);
  const steps = root?.type === "Sequence" && Array.isArray(root.pretokenizers)
    ? root.pretokenizers.map(asObject)
    : [root];
  const split = steps.find((step) => step?.type === "Split");
  const byteLevel = steps.find((step) => step?.type === "ByteLevel");
  const pattern = asObject(split?.pattern)?.Regex;
  if (!split || !byteLevel || pattern !== LLAMA3_SPLIT_PATTERN || byteLevel.use_regex === true) {
    fail(
      `expected Llama 3's pre-tokenizer (its Split pattern, then ByteLevel), found ${brief(value)}`,
    );
  }
}

/**
 * Every merge makes a vocabulary token, in non-decreasing rank of the result. (Looking the
 * two parts up too would double the cost of loading for no extra safety: a vocabulary
 * converted from tiktoken has them by construction.)
 */
function checkMerges(
  value: unknown,
  vocab: Record<string, unknown>,
  fail: (message: string) => never,
): void {
  if (!Array.isArray(value)) fail(`expected "model.merges" to be a list`);
  let previous = -1;
  const merges = value as unknown[];
  for (let i = 0; i < merges.length; i++) {
    // "a b" in older files, ["a", "b"] in newer ones.
    const merge = merges[i];
    const joined = typeof merge === "string" && merge.indexOf(" ") > 0
      ? merge.replace(" ", "")
      : Array.isArray(merge) && merge.length === 2 && merge.every((p) => typeof p === "string")
      ? merge.join("")
      : undefined;
    if (joined === undefined) {
      fail(`expected merge ${i} to be a pair of tokens, found ${brief(merge)}`);
    }
    const rank = vocab[joined!];
    if (typeof rank !== "number") {
      fail(`merge ${i} (${brief(merge)}) makes a token that is not in the vocabulary`);
    }
    if ((rank as number) < previous) {
      fail(
        `merge ${i} (${brief(merge)}) makes token ${rank} after a merge made ${previous}: ` +
          "the merges are not in rank order, so this is not a tiktoken-style vocabulary " +
          "like Llama 3's",
      );
    }
    previous = rank as number;
  }
}

/** A JSON file's object, `undefined` when the file does not exist. */
function readOptionalJson(path: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new TokenizerError(`cannot read ${path}: ${(error as Error).message}`, { path });
  }
  const result = parseJsonWithLimits(text);
  if ("error" in result) {
    throw new TokenizerError(result.error, {
      path,
      fix: "download the file again, or delete it (it is optional)",
    });
  }
  const parsed = result.value;
  return asObject(parsed) ?? (() => {
    throw new TokenizerError("expected a JSON object", { path });
  })();
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/** A JSON value, shortened and escaped, for messages. */
function brief(value: unknown): string {
  return briefValue(value, 80);
}
