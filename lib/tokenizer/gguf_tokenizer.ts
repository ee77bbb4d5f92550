/**
 * The tokenizer a GGUF file carries in its metadata, as a Llama 3 {@linkcode Tokenizer}:
 * `tokenizer.ggml.model = "gpt2"` (byte-level BPE) with `tokenizer.ggml.pre = "llama-bpe"`
 * (Llama 3's pre-tokenizer), `tokenizer.ggml.tokens` spelled in GPT-2's byte-to-unicode
 * alphabet, `tokenizer.ggml.token_type`, and the BOS/EOS/EOT/EOM ids.
 *
 * The ordinary (type 1, normal) tokens come first and their ids are their ranks, as in
 * Llama 3's `tokenizer.model`; the merges of `tokenizer.ggml.merges` follow from those ranks
 * (`gguf_vocabulary.ts` derives them the same way), so encoding needs only the ranks. The
 * special (control or user-defined) tokens follow.
 *
 * The chat template (`tokenizer.chat_template`) is recognised as Llama 3's header format when
 * it builds turns from `<|start_header_id|>`, `<|end_header_id|>` and `<|eot_id|>`; the engine
 * then chats as `chat_template.ts` encodes. Any other template is reported, so that `chat`
 * can say so while completion still works.
 *
 * @example
 * ```ts
 * import { ggufTokenizer } from "./gguf_tokenizer.ts";
 * import { loadGgufCheckpoint } from "../model/gguf_checkpoint.ts";
 *
 * using checkpoint = loadGgufCheckpoint("/models/Llama-3.2-1B-Instruct-Q8_0.gguf");
 * const { tokenizer, stopIds, chatTemplate } = ggufTokenizer(checkpoint.gguf, checkpoint.path);
 * tokenizer.encode("Hello", { bos: true }); // [128000, 9906]
 * ```
 *
 * @module
 */

import { TokenizerError } from "../errors.ts";
import type { GgufFile } from "../formats/gguf.ts";
import { ggufNumber, ggufString } from "../formats/gguf.ts";
import { GGUF_TOKEN_TYPES } from "./gguf_vocabulary.ts";
import { gpt2ByteDecoder } from "./hf_tokenizer.ts";
import { Tokenizer } from "./tokenizer.ts";

/** How a file's chat template relates to the engine's chat format. */
export type ChatTemplateKind = "llama3" | "other" | "none";

/** A GGUF file's tokenizer, stop ids and chat template. */
export interface GgufTokenizer {
  /** The tokenizer. */
  readonly tokenizer: Tokenizer;
  /** Ids that end a generation: EOS, EOT and EOM, those the file has. */
  readonly stopIds: readonly number[];
  /** Whether `tokenizer.chat_template` is Llama 3's header format. */
  readonly chatTemplate: ChatTemplateKind;
}

const FIX = "use a Llama 3 GGUF file (its tokenizer is gpt2 / llama-bpe)";

/**
 * Reads the tokenizer of a GGUF file's metadata.
 *
 * @param gguf The file's header.
 * @param path The file, for messages.
 * @returns The tokenizer, stop ids and chat template kind.
 * @throws {TokenizerError} When the tokenizer is not Llama 3's kind (another model or
 * pre-tokenizer), or its tokens, types or ids are malformed.
 */
export function ggufTokenizer(gguf: GgufFile, path: string): GgufTokenizer {
  const fail = (message: string): never => {
    throw new TokenizerError(message, { path, fix: FIX });
  };
  const model = ggufString(gguf, "tokenizer.ggml.model", path);
  if (model !== "gpt2") {
    fail(
      model === undefined
        ? `expected a tokenizer in the file ("tokenizer.ggml.model"), found none`
        : `tokenizer model "${model}" is not supported; expected "gpt2" (byte-level BPE, Llama 3's)`,
    );
  }
  const pre = ggufString(gguf, "tokenizer.ggml.pre", path);
  if (pre !== undefined && pre !== "llama-bpe" && pre !== "llama3") {
    fail(`pre-tokenizer "${pre}" is not supported; expected "llama-bpe" (Llama 3's)`);
  }
  const tokensValue = gguf.metadata.get("tokenizer.ggml.tokens");
  if (tokensValue?.type !== "array" || tokensValue.itemType !== "string") {
    fail(`expected "tokenizer.ggml.tokens" to be an array of strings`);
  }
  const tokens = tokensValue!.value as ArrayLike<string>;
  const typesValue = gguf.metadata.get("tokenizer.ggml.token_type");
  let types: ArrayLike<number> | undefined;
  if (typesValue !== undefined) {
    if (typesValue.type !== "array" || typesValue.value.length !== tokens.length) {
      fail(`expected "tokenizer.ggml.token_type" to be an array of ${tokens.length} types`);
    }
    types = typesValue.value as ArrayLike<number>;
  }

  // Ordinary tokens first (their id is their rank), then the specials.
  const decoder = gpt2ByteDecoder();
  const ranks: Uint8Array[] = [];
  const specials: string[] = [];
  for (let id = 0; id < tokens.length; id++) {
    const type = types === undefined ? GGUF_TOKEN_TYPES.normal : Number(types[id]);
    const text = tokens[id];
    if (type === GGUF_TOKEN_TYPES.normal) {
      if (specials.length > 0) {
        fail(
          `token ${id} (${JSON.stringify(text)}) is an ordinary token after special ones; ` +
            `expected the ordinary tokens first, as in Llama 3`,
        );
      }
      const bytes = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        const byte = code < decoder.length ? decoder[code] : -1;
        if (byte < 0) {
          fail(
            `token ${id} (${JSON.stringify(text)}) has a character outside GPT-2's ` +
              `byte-to-unicode alphabet`,
          );
        }
        bytes[i] = byte;
      }
      ranks.push(bytes);
    } else if (type === GGUF_TOKEN_TYPES.control || type === GGUF_TOKEN_TYPES.userDefined) {
      specials.push(text);
    } else {
      fail(`token ${id} (${JSON.stringify(text)}) has type ${type}; expected 1, 3 or 4`);
    }
  }

  const roleId = (key: string): number | undefined => {
    const id = ggufNumber(gguf, key, path);
    if (id === undefined) return undefined;
    if (!Number.isSafeInteger(id) || id < 0 || id >= tokens.length) {
      fail(`expected "${key}" to be a token id below ${tokens.length}, found ${id}`);
    }
    return id;
  };
  const bos = roleId("tokenizer.ggml.bos_token_id");
  const eos = roleId("tokenizer.ggml.eos_token_id");
  const specialId = (text: string) => {
    const i = specials.indexOf(text);
    return i < 0 ? undefined : ranks.length + i;
  };
  const eot = roleId("tokenizer.ggml.eot_token_id") ?? specialId("<|eot_id|>") ?? -1;
  const eom = roleId("tokenizer.ggml.eom_token_id") ?? specialId("<|eom_id|>") ?? -1;
  const tokenizer = Tokenizer.fromVocabulary(ranks, {
    texts: specials,
    bos: bos ?? specialId("<|begin_of_text|>") ?? 0,
    eos: specialId("<|end_of_text|>") ?? eos ?? 0,
    eot,
    eom,
  }, path);
  const stopIds = [eos ?? tokenizer.eosId, tokenizer.eosId, eot, eom].filter((id) => id >= 0);
  return {
    tokenizer,
    stopIds: Object.freeze([...new Set(stopIds)]),
    chatTemplate: chatTemplateKind(ggufString(gguf, "tokenizer.chat_template", path)),
  };
}

/**
 * Whether a Jinja chat template is Llama 3's header format: each turn opened by
 * `<|start_header_id|>` role `<|end_header_id|>` and closed by `<|eot_id|>`.
 *
 * @param template The template text, or `undefined`.
 * @returns `"llama3"`, `"other"`, or `"none"` when there is no template.
 */
export function chatTemplateKind(template: string | undefined): ChatTemplateKind {
  if (template === undefined || template === "") return "none";
  const llama3 = template.includes("<|start_header_id|>") &&
    template.includes("<|end_header_id|>") && template.includes("<|eot_id|>");
  return llama3 ? "llama3" : "other";
}
