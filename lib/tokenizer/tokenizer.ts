/**
 * Llama 3's tokenizer: text to token ids and back, as Meta's reference `Tokenizer` does it
 * with tiktoken.
 *
 * Encoding runs in four steps:
 * 1. Meta's cut of very long inputs ({@linkcode metaSubstrings}; a no-op for ordinary text).
 * 2. With `allowSpecial`, special-token text such as `<|eot_id|>` becomes its id; otherwise it
 *    is ordinary text, so user input can never forge a chat header.
 * 3. The pre-tokenizer splits the rest into pieces ({@linkcode pretokenize}).
 * 4. Each piece's UTF-8 bytes are byte-pair encoded ({@linkcode bytePairEncode}).
 *
 * Decoding concatenates the tokens' bytes; the result may end inside a UTF-8 character.
 *
 * @example
 * ```ts
 * import { Tokenizer } from "./tokenizer.ts";
 * const tok = Tokenizer.load("/models/Llama3.2-1B-Instruct/tokenizer.model");
 * tok.encode("This is a test sentence.", { bos: true });
 * // [128000, 2028, 374, 264, 1296, 11914, 13]
 * new TextDecoder().decode(tok.decode([2028, 374])); // "This is"
 * ```
 *
 * @module
 */

import { TokenizerError } from "../errors.ts";
import { excerpt } from "../formats/excerpt.ts";
import { LIMITS } from "../formats/limits.ts";
import { bytePairEncode } from "./bpe.ts";
import { metaSubstrings, pretokenize } from "./pretokenize.ts";
import { LLAMA3_BASE_VOCAB_SIZE, LLAMA3_SPECIAL_TOKENS } from "./special_tokens.ts";

/** Options of {@linkcode Tokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend `<|begin_of_text|>` (128000). Default false. */
  bos?: boolean;
  /** Turn special-token text (`<|eot_id|>`...) into special ids. Default false: plain text. */
  allowSpecial?: boolean;
}

/**
 * The special tokens of a vocabulary that brings its own (a Hugging Face `tokenizer.json`),
 * instead of Meta's fixed Llama 3.1 list.
 */
export interface VocabularySpecials {
  /** Special token texts in id order; they follow the ordinary tokens. */
  readonly texts: readonly string[];
  /** Id of the beginning-of-text token (default: `<|begin_of_text|>`'s). */
  readonly bos?: number;
  /** Id of the end-of-text token (default: `<|end_of_text|>`'s). */
  readonly eos?: number;
  /** Id of the end-of-turn token (default: `<|eot_id|>`'s). */
  readonly eot?: number;
  /** Id of the end-of-message token (default: `<|eom_id|>`'s, or -1 when there is none). */
  readonly eom?: number;
}

/** Pieces remembered per tokenizer before the cache is emptied and starts over. */
const PIECE_CACHE_LIMIT = 65_536;

/** A Llama 3 tokenizer: 128000 byte-pair tokens from `tokenizer.model`, then 256 specials. */
export class Tokenizer {
  /** Number of token ids: ordinary tokens plus 256 special tokens (128256 for Llama 3). */
  readonly vocabSize: number;
  /** Number of ordinary tokens; special ids start here. */
  readonly baseVocabSize: number;
  /** `<|begin_of_text|>` */
  readonly bosId: number;
  /** `<|end_of_text|>` */
  readonly eosId: number;
  /** `<|eot_id|>`: end of a chat turn. */
  readonly eotId: number;
  /** `<|eom_id|>`: end of a message that expects a tool result (-1 in Llama 3.0). */
  readonly eomId: number;
  /** Where the vocabulary came from (for error messages). */
  readonly path: string | undefined;

  /** Token bytes, binary string -> id. */
  #ranks: Map<string, number>;
  /** Every token's bytes back to back; token id's bytes are data[offsets[id]..offsets[id+1]). */
  #data: Uint8Array;
  #offsets: Uint32Array;
  #specialIds: Map<string, number>;
  #pieceCache = new Map<string, number[]>();

  private constructor(
    ranks: Uint8Array[],
    path: string | undefined,
    specials: VocabularySpecials = { texts: LLAMA3_SPECIAL_TOKENS },
  ) {
    this.path = path;
    this.baseVocabSize = ranks.length;
    this.vocabSize = ranks.length + specials.texts.length;
    this.#ranks = new Map();
    const encoder = new TextEncoder();
    const specialBytes = specials.texts.map((text) => encoder.encode(text));
    let total = 0;
    for (const bytes of ranks) total += bytes.length;
    for (const bytes of specialBytes) total += bytes.length;
    this.#data = new Uint8Array(total);
    this.#offsets = new Uint32Array(this.vocabSize + 1);
    let offset = 0;
    for (let id = 0; id < ranks.length; id++) {
      const bytes = ranks[id];
      if (bytes.length === 0) {
        throw new TokenizerError(`token ${id} is empty; every token needs at least one byte`, {
          path,
        });
      }
      const key = binaryString(bytes);
      const first = this.#ranks.get(key);
      if (first !== undefined) {
        throw new TokenizerError(
          `token ${id} has the same bytes as token ${first} (${excerpt(key)}); ` +
            "token bytes must be unique",
          { path, fix: "use an unmodified Llama 3 tokenizer.model" },
        );
      }
      this.#ranks.set(key, id);
      this.#offsets[id] = offset;
      this.#data.set(bytes, offset);
      offset += bytes.length;
    }
    for (let byte = 0; byte < 256; byte++) {
      if (!this.#ranks.has(String.fromCharCode(byte))) {
        throw new TokenizerError(
          `no token for the single byte 0x${byte.toString(16).padStart(2, "0")}; ` +
            "byte-level BPE needs all 256",
          { path, fix: "use an unmodified Llama 3 tokenizer.model" },
        );
      }
    }
    this.#specialIds = new Map();
    for (let i = 0; i < specialBytes.length; i++) {
      const id = ranks.length + i;
      this.#specialIds.set(specials.texts[i], id);
      this.#offsets[id] = offset;
      this.#data.set(specialBytes[i], offset);
      offset += specialBytes[i].length;
    }
    this.#offsets[this.vocabSize] = offset;
    this.bosId = specials.bos ?? this.specialId("<|begin_of_text|>");
    this.eosId = specials.eos ?? this.specialId("<|end_of_text|>");
    this.eotId = specials.eot ?? this.specialId("<|eot_id|>");
    this.eomId = specials.eom ?? this.#specialIds.get("<|eom_id|>") ?? -1;
  }

  /**
   * Reads a Llama 3 `tokenizer.model`: 128000 lines `base64(bytes) rank`, ranks 0, 1, 2, ...
   *
   * @param path The file.
   * @returns The tokenizer, with the 256 Llama 3.1 special tokens after the file's tokens.
   * @throws {TokenizerError} If the file is missing or any line is malformed; the message
   *   names the line.
   */
  static load(path: string): Tokenizer {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(path);
    } catch (error) {
      throw new TokenizerError(`cannot read tokenizer.model: ${(error as Error).message}`, {
        path,
        fix: "pass the folder of a Llama 3 checkpoint; it contains tokenizer.model",
        cause: error,
      });
    }
    const ranks = parseTokenizerModel(bytes, path);
    if (ranks.length !== LLAMA3_BASE_VOCAB_SIZE) {
      throw new TokenizerError(
        `expected ${LLAMA3_BASE_VOCAB_SIZE} tokens in tokenizer.model, found ${ranks.length}`,
        { path, fix: "the file is truncated or not Llama 3's; download it again" },
      );
    }
    return new Tokenizer(ranks, path);
  }

  /**
   * Builds a tokenizer from token bytes in rank order (token id = index). The 256 special
   * tokens get ids `ranks.length` .. `ranks.length + 255`, as Meta's code assigns them.
   *
   * @param ranks Token bytes; must be unique, non-empty and include all 256 single bytes.
   * @param path Optional origin, for error messages.
   * @returns The tokenizer.
   */
  static fromRanks(ranks: Uint8Array[], path?: string): Tokenizer {
    return new Tokenizer(ranks, path);
  }

  /**
   * Builds a tokenizer from a ranked byte vocabulary and its own special tokens (a Hugging Face
   * `tokenizer.json`'s added tokens): ids `0 .. ranks.length - 1` are the ordinary tokens, the
   * specials follow in order.
   *
   * @param ranks Ordinary token bytes in rank order (unique, non-empty, all 256 single bytes).
   * @param specials Special token texts, each `<|name|>`, and the ids of their roles.
   * @param path Optional origin, for error messages.
   * @returns The tokenizer.
   */
  static fromVocabulary(
    ranks: Uint8Array[],
    specials: VocabularySpecials,
    path?: string,
  ): Tokenizer {
    return new Tokenizer(ranks, path, specials);
  }

  /**
   * Encodes text to token ids.
   *
   * @param text Any string (lone surrogates are encoded as U+FFFD, as tiktoken does).
   * @param options `bos` prepends `<|begin_of_text|>`; `allowSpecial` turns special-token text
   *   into special ids instead of encoding it as text.
   * @returns The token ids.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = options.bos ? [this.bosId] : [];
    for (const part of metaSubstrings(text.toWellFormed())) {
      if (options.allowSpecial) this.#encodeWithSpecials(part, ids);
      else this.#encodeOrdinary(part, ids);
    }
    return ids;
  }

  /** Splits at special-token text and encodes the text between as ordinary text. */
  #encodeWithSpecials(text: string, ids: number[]): void {
    let from = 0; // start of ordinary text not yet encoded
    let search = 0;
    for (;;) {
      // Every special token is `<|name|>` with no `|>` inside, so a candidate starting at
      // `<|` can only end at the first `|>` after it.
      const open = text.indexOf("<|", search);
      if (open < 0) break;
      const close = text.indexOf("|>", open + 2);
      if (close < 0) break;
      const id = this.#specialIds.get(text.slice(open, close + 2));
      if (id === undefined) {
        search = open + 1;
        continue;
      }
      this.#encodeOrdinary(text.slice(from, open), ids);
      ids.push(id);
      from = search = close + 2;
    }
    this.#encodeOrdinary(text.slice(from), ids);
  }

  #encodeOrdinary(text: string, ids: number[]): void {
    if (text.length === 0) return;
    const cache = this.#pieceCache;
    for (const piece of pretokenize(text)) {
      let tokens = cache.get(piece);
      if (tokens === undefined) {
        tokens = [];
        bytePairEncode(utf8BinaryString(piece), this.#ranks, tokens);
        if (cache.size >= PIECE_CACHE_LIMIT) cache.clear();
        cache.set(piece, tokens);
      }
      for (const id of tokens) ids.push(id);
    }
  }

  /**
   * Decodes token ids to bytes. Special tokens decode to their text (`<|eot_id|>`). The bytes
   * may end in the middle of a UTF-8 character when generation is streamed token by token.
   *
   * @param ids Token ids.
   * @returns The concatenated token bytes.
   * @throws {TokenizerError} If an id is not in 0..vocabSize-1.
   */
  decode(ids: readonly number[]): Uint8Array {
    let total = 0;
    for (const id of ids) {
      this.#check(id);
      total += this.#offsets[id + 1] - this.#offsets[id];
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const id of ids) {
      const bytes = this.#data.subarray(this.#offsets[id], this.#offsets[id + 1]);
      out.set(bytes, offset);
      offset += bytes.length;
    }
    return out;
  }

  /**
   * The bytes of one token (a copy).
   *
   * @param id A token id.
   * @returns Its bytes; a special token's are its UTF-8 text.
   */
  tokenBytes(id: number): Uint8Array {
    this.#check(id);
    return this.#data.slice(this.#offsets[id], this.#offsets[id + 1]);
  }

  /**
   * The id of a special token.
   *
   * @param text The special token's text, e.g. `"<|eot_id|>"`.
   * @returns Its id, e.g. 128009.
   * @throws {TokenizerError} If `text` is not a Llama 3.1 special token.
   */
  specialId(text: string): number {
    const id = this.#specialIds.get(text);
    if (id === undefined) {
      throw new TokenizerError(
        `${excerpt(text)} is not a Llama 3.1 special token; expected one like ` +
          `"<|eot_id|>" or "<|reserved_special_token_3|>"`,
        { path: this.path },
      );
    }
    return id;
  }

  /**
   * Whether an id is one of the 256 special tokens.
   *
   * @param id A token id.
   * @returns True for `<|begin_of_text|>`, `<|eot_id|>`, reserved tokens, ...
   */
  isSpecial(id: number): boolean {
    return Number.isInteger(id) && id >= this.baseVocabSize && id < this.vocabSize;
  }

  #check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError(
        `token id ${id} is out of range; expected an integer from 0 to ${this.vocabSize - 1}`,
        { path: this.path },
      );
    }
  }
}

/**
 * Parses tiktoken's `tokenizer.model` format: one line per token, `base64(bytes) rank`, ranks
 * counting up from 0. A final newline is allowed, and so are CRLF line ends.
 *
 * @param file The file's bytes.
 * @param path The file's path, for error messages.
 * @returns Token bytes, index = rank (views into one buffer).
 * @throws {TokenizerError} Naming the line, for bad base64, a missing or out-of-order rank.
 */
export function parseTokenizerModel(file: Uint8Array, path: string): Uint8Array[] {
  // Decoded bytes are never longer than their base64, so one buffer of the file's size holds
  // every token. Scanning bytes directly is ~10x faster than splitting a decoded string.
  const data = new Uint8Array(file.length);
  let used = 0;
  const ranks: Uint8Array[] = [];
  let lineStart = 0;
  while (lineStart < file.length) {
    let lineEnd = file.indexOf(0x0a, lineStart);
    if (lineEnd < 0) lineEnd = file.length;
    const contentEnd = lineEnd > lineStart && file[lineEnd - 1] === 0x0d ? lineEnd - 1 : lineEnd;
    const rank = ranks.length;
    const fail = (what: string) =>
      new TokenizerError(`tokenizer.model line ${rank + 1}: ${what}`, {
        path,
        fix: "the file is damaged or not a tiktoken vocabulary; download it again",
      });
    const line = () => fileText(file.subarray(lineStart, contentEnd));

    const space = file.indexOf(0x20, lineStart);
    if (space < 0 || space >= contentEnd) {
      throw fail(`expected "<base64 token bytes> <rank>", found ${quote(line())} (missing rank)`);
    }
    const length = decodeBase64(file, lineStart, space, data, used);
    if (length < 0) {
      throw fail(
        `expected base64 token bytes, found ${quote(fileText(file.subarray(lineStart, space)))}`,
      );
    }
    if (length > LIMITS.tokenBytes) {
      throw fail(`expected a token of at most ${LIMITS.tokenBytes} bytes, found ${length}`);
    }
    if (rank >= LIMITS.vocabSize) throw fail(`expected at most ${LIMITS.vocabSize} tokens`);
    let value = 0;
    let digits = 0;
    for (let i = space + 1; i < contentEnd; i++) {
      const digit = file[i] - 0x30;
      if (digit < 0 || digit > 9 || (digits === 1 && value === 0) || digits > 9) {
        digits = -1;
        break;
      }
      value = value * 10 + digit;
      digits++;
    }
    if (digits <= 0) {
      throw fail(
        `expected a decimal rank after the token, found ${
          quote(fileText(file.subarray(space + 1, contentEnd)))
        }`,
      );
    }
    if (value !== rank) {
      throw fail(`expected rank ${rank} (ranks count up from 0, one per line), found ${value}`);
    }
    ranks.push(data.subarray(used, used + length));
    used += length;
    lineStart = lineEnd + 1;
  }
  return ranks;
}

// Value of each base64 digit by ASCII code, -1 for non-digits.
const BASE64_VALUES = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  BASE64_VALUES["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] =
    i;
}

/**
 * Decodes strict standard base64 (padded, no whitespace, not empty) from `src[from..to)` into
 * `dst` at `at`. Returns the number of bytes written, or -1 when the text is not valid.
 */
function decodeBase64(
  src: Uint8Array,
  from: number,
  to: number,
  dst: Uint8Array,
  at: number,
): number {
  const length = to - from;
  if (length === 0 || length % 4 !== 0) return -1;
  const padding = src[to - 1] !== 0x3d ? 0 : src[to - 2] !== 0x3d ? 1 : 2; // "="
  let bits = 0;
  let bitCount = 0;
  let o = at;
  for (let i = from; i < to - padding; i++) {
    const value = BASE64_VALUES[src[i]];
    if (value < 0) return -1;
    bits = ((bits << 6) | value) & 0xffffff;
    bitCount += 6;
    if (bitCount >= 8) {
      bitCount -= 8;
      dst[o++] = (bits >> bitCount) & 0xff;
    }
  }
  return o - at;
}

function quote(text: string): string {
  return excerpt(text);
}

/** Bytes as a binary string: one UTF-16 unit (0..255) per byte. */
function binaryString(bytes: Uint8Array): string {
  if (bytes.length <= 4096) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return s;
}

/** File content, for quoting in messages. */
function fileText(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** A string's UTF-8 encoding as a binary string. ASCII text is returned as is. */
function utf8BinaryString(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return text;
  return binaryString(utf8.encode(text));
}

const utf8 = new TextEncoder();
