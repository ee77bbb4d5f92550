/**
 * Llama 3's pre-tokenizer: splits text into the pieces that BPE then encodes one at a time.
 * No token ever crosses a piece boundary, so this split decides as much as the merges do.
 *
 * Meta defines the split by a regular expression, run by tiktoken with Rust's fancy-regex:
 *
 * ```text
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)      1. an English contraction
 * |[^\r\n\p{L}\p{N}]?\p{L}+          2. a word, with at most one leading non-letter (" the", "(x")
 * |\p{N}{1,3}                        3. one to three digits
 * | ?[^\s\p{L}\p{N}]+[\r\n]*         4. a punctuation run, with at most one leading ASCII space
 * |\s*[\r\n]+                        5. whitespace up to and including its last line break
 * |\s+(?!\S)                         6. whitespace not followed by a non-space
 * |\s+                               7. any other whitespace
 * ```
 *
 * The alternatives are tried in order at each position (leftmost-first, with backtracking), and
 * since every character matches one of them the pieces tile the text. {@linkcode pretokenize}
 * is a hand-written scanner for that expression. It is faster than a regex and, more
 * importantly, does not inherit JavaScript's regex semantics where they differ from Rust's:
 *
 * - `\s` in Rust is the Unicode `White_Space` property: TAB..CR, space, U+0085 (NEL), U+00A0,
 *   U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. JavaScript's `\s` lacks
 *   U+0085 and adds U+FEFF (the BOM / zero-width no-break space). We use `\p{White_Space}`.
 * - `\p{L}` (letters: Lu Ll Lt Lm Lo) and `\p{N}` (numbers: Nd Nl No) are the same general
 *   categories in both. Our tables come from the JavaScript engine's Unicode data: Unicode 16
 *   in Deno 2.9, as in the tiktoken 1.0.22 WebAssembly build the tests compare with. A
 *   tiktoken built with older tables may classify characters assigned since differently.
 * - `(?i:...)` uses Unicode simple case folding. Among the contraction letters only `s` has a
 *   non-ASCII fold: U+017F LATIN SMALL LETTER LONG S, so `'ſ` is a contraction like `'s`.
 *   (The Kelvin sign K folds to `k` and U+212B to `å`, but neither letter occurs in a
 *   contraction; Turkish `İ`/`ı` do not fold to `i` under simple folding.) Note that only the
 *   ASCII apostrophe U+0027 starts a contraction: `ʼ` (U+02BC) is a letter and `’` (U+2019)
 *   punctuation.
 * - The regex runs over code points, not UTF-16 units: an emoji is one character.
 *
 * Meta's `Tokenizer.encode` also cuts the text before tiktoken sees it (see
 * {@linkcode metaSubstrings}); that cut changes the result only for runs of more than 25000
 * spaces or non-spaces.
 *
 * @example
 * ```ts
 * import { pretokenize } from "./pretokenize.ts";
 * pretokenize("He's  here!\n\n"); // ["He", "'s", " ", " here", "!\n\n"]
 * ```
 *
 * @module
 */

// Character classes, as bit flags.
const LETTER = 1; // \p{L}
const NUMBER = 2; // \p{N}
const SPACE = 4; // \s, i.e. White_Space
const NEWLINE = 8; // \r or \n (also SPACE)

/** Class flags of every BMP code point, built on first use (about 30 ms). */
let bmpClasses: Uint8Array | undefined;
/** Class flags of astral code points seen so far (emoji, CJK extensions, math letters). */
const astralClasses = new Map<number, number>();

function buildBmpClasses(): Uint8Array {
  const table = new Uint8Array(0x10000);
  // One string holding every BMP code point except the surrogates, in order, so that regex
  // match indices are code points (below U+D800) or code points minus the 2048 surrogates.
  const units: string[] = [];
  for (let from = 0; from < 0x10000; from += 0x800) {
    if (from >= 0xd800 && from < 0xe000) continue;
    units.push(String.fromCharCode(...Array.from({ length: 0x800 }, (_, i) => from + i)));
  }
  const all = units.join("");
  const mark = (regex: RegExp, flag: number) => {
    for (const match of all.matchAll(regex)) {
      for (let index = match.index; index < match.index + match[0].length; index++) {
        table[index < 0xd800 ? index : index + 0x800] |= flag;
      }
    }
  };
  mark(/\p{L}+/gu, LETTER);
  mark(/\p{N}+/gu, NUMBER);
  mark(/\p{White_Space}+/gu, SPACE);
  table[0x0a] |= NEWLINE;
  table[0x0d] |= NEWLINE;
  return table;
}

function astralClass(cp: number): number {
  let flags = astralClasses.get(cp);
  if (flags === undefined) {
    const char = String.fromCodePoint(cp);
    // No astral code point is White_Space, so only letters and numbers can occur here.
    flags = (/\p{L}/u.test(char) ? LETTER : 0) | (/\p{N}/u.test(char) ? NUMBER : 0);
    astralClasses.set(cp, flags);
  }
  return flags;
}

/** Class flags of a code point (a lone surrogate is "other", like its U+FFFD replacement). */
function classOf(cp: number): number {
  return cp < 0x10000 ? bmpClasses![cp] : astralClass(cp);
}

/** The code point starting at UTF-16 index i (a lone surrogate is returned as itself). */
function codePointAt(text: string, i: number): number {
  const hi = text.charCodeAt(i);
  if (hi >= 0xd800 && hi < 0xdc00 && i + 1 < text.length) {
    const lo = text.charCodeAt(i + 1);
    if (lo >= 0xdc00 && lo < 0xe000) return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
  }
  return hi;
}

/** UTF-16 length of a code point. */
function width(cp: number): number {
  return cp > 0xffff ? 2 : 1;
}

/** Index just past the run of code points, starting at i, whose flags satisfy `want`. */
function skipWhile(text: string, i: number, want: (flags: number) => boolean): number {
  while (i < text.length) {
    const cp = codePointAt(text, i);
    if (!want(classOf(cp))) break;
    i += width(cp);
  }
  return i;
}

const isLetter = (flags: number) => (flags & LETTER) !== 0;
const isNewline = (flags: number) => (flags & NEWLINE) !== 0;
/** `[^\s\p{L}\p{N}]`: punctuation, symbols, emoji, controls, format characters... */
const isOther = (flags: number) => (flags & (LETTER | NUMBER | SPACE)) === 0;

/** Is `cp` one of the given ASCII letters, in either case? (`s` also matches `ſ`.) */
function foldsTo(cp: number, lower: string): boolean {
  if (cp === 0x17f) return lower === "s"; // ſ: simple case fold of 's' (see module doc)
  return cp < 0x80 && (cp | 0x20) === lower.charCodeAt(0);
}

/** Length in UTF-16 units of a contraction at i (`'s`, `'RE`, `'ll`...), or 0 if none. */
function contractionLength(text: string, i: number): number {
  if (text.charCodeAt(i) !== 0x27 || i + 1 >= text.length) return 0;
  const c1 = text.charCodeAt(i + 1); // all candidate letters are BMP, one unit each
  if (foldsTo(c1, "s") || foldsTo(c1, "t") || foldsTo(c1, "m") || foldsTo(c1, "d")) return 2;
  if (i + 2 >= text.length) return 0;
  const c2 = text.charCodeAt(i + 2);
  if ((foldsTo(c1, "r") || foldsTo(c1, "v")) && foldsTo(c2, "e")) return 3;
  if (foldsTo(c1, "l") && foldsTo(c2, "l")) return 3;
  return 0;
}

/** End (exclusive UTF-16 index) of the piece that starts at `i`. */
function pieceEnd(text: string, i: number): number {
  const n = text.length;
  const c0 = codePointAt(text, i);
  const f0 = classOf(c0);
  const j = i + width(c0); // just past c0
  const c1 = j < n ? codePointAt(text, j) : -1;
  const f1 = c1 < 0 ? -1 : classOf(c1); // -1: no next character

  // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
  const contraction = contractionLength(text, i);
  if (contraction > 0) return i + contraction;

  // 2. [^\r\n\p{L}\p{N}]?\p{L}+ : the optional prefix is tried first; if no letter follows
  //    it, backtracking drops the prefix, which then requires c0 itself to be a letter.
  if (f0 & LETTER) return skipWhile(text, j, isLetter);
  if (!(f0 & (LETTER | NUMBER | NEWLINE)) && f1 >= 0 && (f1 & LETTER)) {
    return skipWhile(text, j + width(c1), isLetter);
  }

  // 3. \p{N}{1,3}
  if (f0 & NUMBER) {
    let end = j;
    for (let count = 1; count < 3 && end < n; count++) {
      const cp = codePointAt(text, end);
      if (!(classOf(cp) & NUMBER)) break;
      end += width(cp);
    }
    return end;
  }

  // 4. ` ?[^\s\p{L}\p{N}]+[\r\n]*` : only a plain space (U+0020) may lead.
  if (c0 === 0x20 && f1 >= 0 && isOther(f1)) {
    return skipWhile(text, skipWhile(text, j, isOther), isNewline);
  }
  if (isOther(f0)) return skipWhile(text, skipWhile(text, j, isOther), isNewline);

  // c0 is whitespace. Find the whole run, remembering where its last line break ends.
  let end = i;
  let afterLastNewline = -1;
  while (end < n) {
    const flags = classOf(text.charCodeAt(end)); // White_Space is all BMP: one unit each
    if (!(flags & SPACE)) break;
    end++;
    if (flags & NEWLINE) afterLastNewline = end;
  }
  // 5. \s*[\r\n]+ : greedy \s* backtracks until [\r\n]+ can end on the run's last line break.
  if (afterLastNewline > 0) return afterLastNewline;
  // 6. \s+(?!\S) : the whole run at the end of the text; otherwise backtrack one character,
  //    so that the run's last space stays with the word or punctuation that follows.
  if (end === n) return end;
  if (end - i >= 2) return end - 1;
  // 7. \s+ : a single space before a non-space that neither 2 nor 4 took (e.g. "\t(" or " 1").
  return end;
}

/**
 * Splits text into pre-tokenizer pieces exactly as Llama 3's regex does under tiktoken.
 *
 * @param text Any string; a lone surrogate is treated as U+FFFD would be.
 * @returns The pieces, in order; their concatenation is `text`.
 */
export function pretokenize(text: string): string[] {
  bmpClasses ??= buildBmpClasses();
  const pieces: string[] = [];
  for (let i = 0; i < text.length;) {
    const end = pieceEnd(text, i);
    pieces.push(text.slice(i, end));
    i = end;
  }
  return pieces;
}

/** Meta cuts the input into slices of at most this many code points (tiktoken's limit). */
export const META_MAX_ENCODE_CHARS = 400_000;
/** ...and each slice so that no run of spaces or non-spaces exceeds this many code points. */
export const META_MAX_RUN_CHARS = 25_000;

/** Python's `str.isspace()`: bidi class WS, B or S, or category Zs. Unlike `White_Space`,
 * it includes U+001C..U+001F (the information separators). */
function isPythonSpace(cp: number): boolean {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp === 0x85 ||
    cp === 0xa0 || cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 ||
    cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

/**
 * The substrings Meta's reference `Tokenizer.encode` hands to tiktoken one by one: slices of
 * 400000 code points, each cut further wherever a run of (Python) spaces or non-spaces would
 * exceed 25000 code points. Each substring is pre-tokenized separately, so a cut is also a
 * piece boundary. Ordinary text comes back as `[text]`.
 *
 * @param text The text to encode.
 * @returns Substrings whose concatenation is `text`.
 */
export function metaSubstrings(text: string): string[] {
  if (text.length <= META_MAX_RUN_CHARS) return [text]; // no run can be long enough
  const out: string[] = [];
  let chunkStart = 0;
  let sliceStart = 0;
  let chunkChars = 0; // code points since chunkStart
  let runLength = 0;
  let runIsSpace = false;
  for (let i = 0; i < text.length;) {
    const cp = codePointAt(text, i);
    if (chunkChars === META_MAX_ENCODE_CHARS) {
      // A new 400000-character chunk: Python restarts its run bookkeeping here.
      out.push(text.slice(sliceStart, i));
      chunkStart = sliceStart = i;
      chunkChars = 0;
    }
    const isSpace = isPythonSpace(cp);
    if (i === chunkStart) {
      runIsSpace = isSpace;
      runLength = 0;
    }
    if (isSpace !== runIsSpace) {
      runIsSpace = isSpace;
      runLength = 1;
    } else if (++runLength > META_MAX_RUN_CHARS) {
      out.push(text.slice(sliceStart, i));
      sliceStart = i;
      runLength = 1;
    }
    chunkChars++;
    i += width(cp);
  }
  out.push(text.slice(sliceStart));
  return out;
}
