/**
 * Short, escaped excerpts of untrusted values for error messages: a message quotes at most
 * {@linkcode LIMITS.excerptChars} characters of a name or value from a file, with every
 * control character (terminal escape sequences among them) written as `\u{…}`, so a hostile
 * file can neither flood the terminal nor drive it.
 *
 * @example
 * ```ts
 * import { briefValue, excerpt } from "./excerpt.ts";
 *
 * excerpt("layers.0\x1b[2J"); // "\"layers.0\\u{1b}[2J\""
 * briefValue([[[[[1]]]]]); // "[[[[…]]]]"
 * ```
 *
 * @module
 */

import { LIMITS } from "./limits.ts";

/**
 * A string quoted for a message: cut to `max` characters (the cut said with its full length),
 * control, bidirectional-override and line-separator characters escaped.
 *
 * @param text The untrusted text.
 * @param max Characters kept at most.
 * @returns The text in double quotes, safe to print.
 */
export function excerpt(text: string, max: number = LIMITS.excerptChars): string {
  const chars = Array.from(text.length > max * 2 ? text.slice(0, max * 2) : text);
  const cut = chars.length > max;
  const kept = cut ? chars.slice(0, max) : chars;
  const body = kept.map(escapeChar).join("");
  return cut ? `"${body}"… (${text.length} characters)` : `"${body}"`;
}

/**
 * Text with control, bidirectional-override and line-separator characters escaped, cut to
 * `max` characters, without quotes (for a parser's own message that quotes the input).
 *
 * @param text The untrusted text.
 * @param max Characters kept at most.
 * @returns The text, safe to print.
 */
export function escapedText(text: string, max: number): string {
  const chars = Array.from(text.length > max * 2 ? text.slice(0, max * 2) : text);
  const body = chars.slice(0, max).map((c) => (c === '"' || c === "\\" ? c : escapeChar(c)));
  return body.join("") + (chars.length > max ? "…" : "");
}

/**
 * A JSON-like value (from a parsed file or a pickle) shortened for a message, written as
 * compact JSON is (`{"dtype":"F32"}`): nesting shown to four levels, at most `max` characters, strings escaped as {@linkcode excerpt} does.
 * Never recursive beyond those four levels, so any value is safe.
 *
 * @param value The untrusted value.
 * @param max Characters kept at most.
 * @returns A short text.
 */
export function briefValue(value: unknown, max: number = LIMITS.excerptChars): string {
  if (typeof value === "string") return excerpt(value, max);
  const text = brief(value, 4, max + 1);
  return text.length > max ? text.slice(0, max) + "…" : text;
}

function brief(value: unknown, depth: number, budget: number): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return excerpt(value, Math.max(8, Math.min(budget, 60)));
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "bigint") return excerpt(String(value), 24).slice(1, -1);
  if (value instanceof Uint8Array) return `bytes (${value.length})`;
  const isArray = Array.isArray(value);
  if (typeof value !== "object" && !isArray) return typeof value;
  if (depth === 0) return isArray ? "[…]" : "{…}";
  const parts: string[] = [];
  let used = 2;
  for (const [key, inner] of entriesOf(value as object)) {
    if (used > budget) {
      parts.push("…");
      break;
    }
    const text = (key === undefined ? "" : `${excerpt(key, 24)}:`) +
      brief(inner, depth - 1, budget - used);
    parts.push(text);
    used += text.length + 1;
  }
  return isArray ? `[${parts.join(",")}]` : `{${parts.join(",")}}`;
}

/** Keys and values of an array, Map or object, lazily (a huge one is never copied). */
function* entriesOf(value: object): Generator<[string | undefined, unknown]> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield [undefined, value[i]];
  } else if (value instanceof Map || value instanceof Set) {
    for (const item of value) {
      yield Array.isArray(item) ? [String(item[0]), item[1]] : [undefined, item];
    }
  } else {
    for (const key in value) {
      if (Object.hasOwn(value, key)) yield [key, (value as Record<string, unknown>)[key]];
    }
  }
}

/** Characters that move the cursor, change colours or reorder text are escaped. */
function escapeChar(char: string): string {
  const code = char.codePointAt(0)!;
  if (char === '"' || char === "\\") return "\\" + char;
  if (
    code < 0x20 || (code >= 0x7f && code <= 0x9f) || (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069) ||
    code === 0xfeff || (code >= 0xd800 && code <= 0xdfff)
  ) {
    return `\\u{${code.toString(16)}}`;
  }
  return char;
}
