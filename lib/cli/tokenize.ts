/**
 * The `tokenize` command: shows how Llama 3 splits a text into tokens.
 *
 * By default it prints the ids on one line, `<|begin_of_text|>` (128000) first. `--json`
 * prints a JSON array instead; `--show` prints one token per line with its text, written so
 * that every byte is visible: JSON-style escapes for quotes, backslashes, controls and
 * invisible characters, and `\xNN` for bytes that are not a complete UTF-8 character on their
 * own (a token may hold half of an emoji).
 *
 * @example
 * ```ts
 * import { runTokenize } from "./tokenize.ts";
 * import type { Tokenizer } from "../tokenizer/tokenizer.ts";
 *
 * declare const tok: Tokenizer;
 * runTokenize(tok, "Hi 👋", { allowSpecial: false, bos: true, json: false, show: true });
 * // 128000  <|begin_of_text|>
 * //  13347  "Hi"
 * //  62904  " \xF0\x9F\x91"
 * //    233  "\x8B"
 * ```
 *
 * @module
 */

import type { Tokenizer } from "../tokenizer/tokenizer.ts";

const utf8 = new TextDecoder();

/** Flags of the `tokenize` command. */
export interface TokenizeOptions {
  /** Treat special-token text in the input (`<|eot_id|>`) as special tokens. */
  allowSpecial: boolean;
  /** Start with `<|begin_of_text|>`. */
  bos: boolean;
  /** Print JSON. */
  json: boolean;
  /** Print each token's text next to its id. */
  show: boolean;
}

/**
 * Tokenizes text and formats the result for printing.
 *
 * @param tok The tokenizer.
 * @param text The text to tokenize.
 * @param options See {@linkcode TokenizeOptions}.
 * @returns What to print: ids separated by spaces; a JSON array (`json`); one `id  "text"`
 *   line per token (`show`); or a JSON array of `{ id, text, bytes }` (`json` and `show`),
 *   where `text` is lossy UTF-8 and `bytes` the exact bytes in hex.
 */
export function runTokenize(tok: Tokenizer, text: string, options: TokenizeOptions): string {
  const ids = tok.encode(text, { bos: options.bos, allowSpecial: options.allowSpecial });
  if (!options.show) return options.json ? JSON.stringify(ids) : ids.join(" ");

  if (options.json) {
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true }); // keep a leading U+FEFF
    const rows = ids.map((id) => {
      const bytes = tok.tokenBytes(id);
      const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      return JSON.stringify({
        id,
        text: decoder.decode(bytes),
        bytes: hex,
        ...(tok.isSpecial(id) ? { special: true } : {}),
      });
    });
    return `[\n${rows.map((row) => `  ${row}`).join(",\n")}\n]`;
  }
  const width = Math.max(...ids.map((id) => String(id).length), 1);
  return ids.map((id) => {
    const bytes = tok.tokenBytes(id);
    // Special tokens are shown bare: they are markers, not text.
    const shown = tok.isSpecial(id) ? utf8.decode(bytes) : readableBytes(bytes);
    return `${String(id).padStart(width)}  ${shown}`;
  }).join("\n");
}

/**
 * Bytes as a double-quoted, JSON-style string in which every byte is visible: `\"`, `\\`,
 * `\n`, `\r`, `\t`, `\uXXXX` for other controls, format characters (ZWJ, BOM...) and
 * whitespace other than the space, and `\xNN` for each byte that does not belong to a
 * well-formed UTF-8 character.
 *
 * @param bytes Any bytes, e.g. one token's.
 * @returns The quoted text, e.g. `"caf\xC3"`.
 */
export function readableBytes(bytes: Uint8Array): string {
  let out = '"';
  for (let i = 0; i < bytes.length;) {
    const length = utf8SequenceLength(bytes, i);
    if (length === 0) {
      out += `\\x${bytes[i].toString(16).toUpperCase().padStart(2, "0")}`;
      i++;
      continue;
    }
    // A well-formed sequence: the lead byte's payload bits, then 6 bits per continuation.
    let cp = length === 1 ? bytes[i] : bytes[i] & (0x7f >> length);
    for (let k = 1; k < length; k++) cp = (cp << 6) | (bytes[i + k] & 0x3f);
    out += escapeChar(String.fromCodePoint(cp));
    i += length;
  }
  return out + '"';
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

function escapeChar(char: string): string {
  const simple = SIMPLE_ESCAPES[char];
  if (simple) return simple;
  if (char !== " " && /[\p{Cc}\p{Cf}\p{Z}\p{Co}\p{Cn}]/u.test(char)) {
    let escaped = "";
    for (let k = 0; k < char.length; k++) { // astral: as a JSON surrogate pair
      escaped += `\\u${char.charCodeAt(k).toString(16).padStart(4, "0")}`;
    }
    return escaped;
  }
  return char;
}

/**
 * Length of the well-formed UTF-8 character at `i` (Unicode table 3-7), or 0 when the byte at
 * `i` does not start one: a stray continuation byte, an overlong form, a surrogate, a value
 * above U+10FFFF, or a sequence cut short.
 */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i];
  if (b0 < 0x80) return 1;
  let length: number;
  let lo = 0x80; // allowed range of the second byte
  let hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) length = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    if (b0 === 0xe0) lo = 0xa0; // no overlong forms
    if (b0 === 0xed) hi = 0x9f; // no surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    if (b0 === 0xf0) lo = 0x90; // no overlong forms
    if (b0 === 0xf4) hi = 0x8f; // nothing above U+10FFFF
  } else return 0;
  if (i + length > bytes.length) return 0;
  if (bytes[i + 1] < lo || bytes[i + 1] > hi) return 0;
  for (let k = 2; k < length; k++) {
    if (bytes[i + k] < 0x80 || bytes[i + k] > 0xbf) return 0;
  }
  return length;
}
