/**
 * JSON from an untrusted file, parsed and then checked against {@linkcode LIMITS.jsonDepth}
 * before anything walks it: code that freezes, prints or validates a config may then recurse
 * without overflowing the stack.
 *
 * @example
 * ```ts
 * import { parseJsonWithLimits } from "./json_limits.ts";
 *
 * const result = parseJsonWithLimits('{"dim": 64}');
 * if ("error" in result) throw new Error(result.error);
 * result.value; // { dim: 64 }
 * ```
 *
 * @module
 */

import { escapedText } from "./excerpt.ts";
import { LIMITS } from "./limits.ts";

/**
 * The parsed value, or why the text was refused: one sentence with no excerpt of the text, and
 * for invalid JSON the parser's own short reason in `syntax`.
 */
export type JsonResult = { readonly value: unknown } | {
  readonly error: string;
  readonly syntax?: string;
};

/**
 * Parses JSON and checks its nesting depth without recursion.
 *
 * @param text The file's text.
 * @param maxDepth Levels of arrays and objects allowed.
 * @returns `{ value }`, or `{ error }` for invalid JSON or too deep a nesting.
 */
export function parseJsonWithLimits(
  text: string,
  maxDepth: number = LIMITS.jsonDepth,
): JsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // V8's message quotes the text around the error: escaped, like any untrusted text.
    const syntax = escapedText((error as Error).message, 160);
    return { error: `expected JSON, found invalid text: ${syntax}`, syntax };
  }
  const depth = nestingDepth(value, maxDepth);
  if (depth > maxDepth) {
    return {
      error: `expected JSON nested at most ${maxDepth} levels deep, found deeper nesting`,
    };
  }
  return { value };
}

/**
 * How deep arrays and objects nest in a parsed JSON value, counted up to `stopAfter + 1`.
 *
 * @param value A parsed JSON value.
 * @param stopAfter Stop counting past this depth.
 * @returns The depth (0 for a number or string), at most `stopAfter + 1`.
 */
export function nestingDepth(value: unknown, stopAfter: number): number {
  const pending: Array<[unknown, number]> = [[value, 0]];
  let deepest = 0;
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (typeof item !== "object" || item === null) continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > stopAfter) return deepest;
    for (const inner of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof inner === "object" && inner !== null) pending.push([inner, level]);
    }
  }
  return deepest;
}
