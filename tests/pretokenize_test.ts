/**
 * Pre-tokenizer tests: hand-derived splits for each branch of Meta's pattern, a fuzz
 * comparison with the pattern itself run by V8 (with `\s` spelled as Rust reads it), a piece-
 * boundary probe of tiktoken's real Rust regex, and Meta's long-run cutting.
 */

import assert from "node:assert/strict";
import { bytePairEncode } from "../lib/tokenizer/bpe.ts";
import { metaSubstrings, pretokenize } from "../lib/tokenizer/pretokenize.ts";
import { META_PATTERN, rustTiktokenWithRanks, seededRandom } from "./helpers/llama3_tokenizer.ts";
import { CORPUS } from "./helpers/tokenizer_corpus.ts";

const utf8 = new TextEncoder();

Deno.test("pretokenize: each branch of the pattern, derived by hand", () => {
  const cases: [string, string[]][] = [
    // 1. contractions, any case; only after the ASCII apostrophe; 'ſ folds to 's
    ["He's", ["He", "'s"]],
    ["I'M YOU'RE we'VE they'Ll", ["I", "'M", " YOU", "'RE", " we", "'VE", " they", "'Ll"]],
    ["'sam", ["'s", "am"]],
    ["'ſam", ["'ſ", "am"]],
    ["'\u212a 'k", ["'\u212a", " '", "k"]], // Kelvin sign: folds to k, not a contraction letter
    ["it’s", ["it", "’s"]], // U+2019 is punctuation: prefix of a word
    ["itʼs", ["itʼs"]], // U+02BC is a letter
    ["'x 'r 'l", ["'x", " '", "r", " '", "l"]],
    // 2. words with at most one leading non-letter, non-digit, non-newline
    [" hello world", [" hello", " world"]],
    ["(hello) \tworld\u3000東京", ["(hello", ")", " ", "\tworld", "\u3000東京"]],
    ["\nword", ["\n", "word"]], // a newline never leads a word
    ["🙂ok", ["🙂ok"]], // an emoji (one code point) may lead a word
    ["e\u0301t\u00e9", ["e", "\u0301t\u00e9"]], // a combining mark is not a letter
    // 3. one to three numbers
    ["1234567", ["123", "456", "7"]],
    ["abc123", ["abc", "123"]],
    ["٣٤٥٦ ①②③④", ["٣٤٥", "٦", " ", "①②③", "④"]],
    ["𝟙𝟚𝟛𝟜", ["𝟙𝟚𝟛", "𝟜"]], // astral digits count as one character each
    // 4. punctuation runs, one leading ASCII space, trailing CR/LF
    ["Hi!!! ...\n\n\nok", ["Hi", "!!!", " ...\n\n\n", "ok"]],
    ["a \u00a0!", ["a", " ", "\u00a0", "!"]], // only U+0020 may lead punctuation (then 6, 7)
    // 5. whitespace up to its last line break
    ["a  \n \n  b", ["a", "  \n \n", " ", " b"]],
    ["x\r\n\r\ny", ["x", "\r\n\r\n", "y"]],
    ["x \u2028 \u0085 y", ["x", " \u2028 \u0085", " y"]], // U+2028, NEL: not line breaks here
    // 6. whitespace not followed by a non-space
    ["a   b", ["a", "  ", " b"]],
    ["end   ", ["end", "   "]],
    ["a\t\t1", ["a", "\t", "\t", "1"]],
    // 7. a single space before a digit
    ["a 1", ["a", " ", "1"]],
    // Rust's \s: U+0085 is whitespace, U+FEFF is not
    ["a\u0085b", ["a", "\u0085b"]],
    ["a \ufeff b", ["a", " \ufeff", " b"]],
    ["\ufeff\ufeffx", ["\ufeff\ufeff", "x"]],
    ["", []],
  ];
  for (const [text, pieces] of cases) {
    assert.deepEqual(pretokenize(text), pieces, JSON.stringify(text));
  }
});

/**
 * Meta's pattern for V8, with `\s`/`\S` spelled as Rust reads them (`\p{White_Space}`).
 * V8 supports `(?i:...)` and, with the `u` flag, folds case like Rust (`ſ` ~ `s`).
 */
const REFERENCE = new RegExp(
  META_PATTERN.replaceAll("\\s", "\\p{White_Space}").replaceAll("\\S", "\\P{White_Space}"),
  "gu",
);

/** Characters chosen to hit every branch and every Rust/JS difference. */
const FUZZ_ALPHABET = [
  ..."'''aAzZsStTrReEvVmMlLdDkK", // contraction letters
  "ſ",
  "\u212a",
  "İ",
  "ı",
  "é",
  "ʼ",
  "’",
  "中",
  "ك",
  "ß",
  "\u{1d400}", // letters, one astral
  "1",
  "2",
  "٣",
  "①",
  "Ⅻ",
  "½",
  "\u{1d7d9}", // numbers, one astral
  " ",
  " ",
  " ",
  " ",
  "\t",
  "\n",
  "\n",
  "\r",
  "\u000b",
  "\u00a0",
  "\u0085",
  "\u2003",
  "\u2028",
  "\u3000",
  "\ufeff",
  "\u001c",
  "\u180e",
  "\u200b", // whitespace and look-alikes
  "!",
  ".",
  "(",
  '"',
  "-",
  "😀",
  "\u200d",
  "\u0301",
  "\u{e0067}",
  "<",
  "|",
  ">", // others
];

function fuzzText(random: () => number): string {
  const length = 1 + Math.floor(random() * 24);
  let text = "";
  for (let i = 0; i < length; i++) {
    text += FUZZ_ALPHABET[Math.floor(random() * FUZZ_ALPHABET.length)];
  }
  return text;
}

Deno.test("pretokenize: 5000 random strings split as Meta's pattern does under Rust semantics", () => {
  const random = seededRandom(2024);
  for (let k = 0; k < 5000; k++) {
    const text = fuzzText(random);
    const expected = Array.from(text.matchAll(REFERENCE), (match) => match[0]);
    assert.deepEqual(pretokenize(text), expected, JSON.stringify(text));
  }
  for (const { name, text } of CORPUS) {
    const expected = Array.from(text.matchAll(REFERENCE), (match) => match[0]);
    assert.deepEqual(pretokenize(text), expected, name);
  }
});

/**
 * Probes tiktoken's real Rust regex (fancy-regex, via the WebAssembly build) for piece
 * boundaries. A made-up vocabulary holds all 256 bytes, every prefix of each expected piece
 * (so that a piece tends to merge into one token) and, at the lowest ranks, the two characters
 * around each expected boundary (so that a piece spanning a boundary merges across it).
 * tiktoken encodes the text with it; byte-pair encoding the expected pieces one by one must
 * give the same ids. A boundary in a different place shows up as different ids.
 */
function probeRust(text: string, pieces: string[]): { rust: number[]; expected: number[] } {
  const ranks = new Map<string, number>(); // binary string of the token's bytes -> rank
  const add = (token: string) => {
    const key = binary(utf8.encode(token));
    if (key.length > 0 && !ranks.has(key)) ranks.set(key, ranks.size);
  };
  for (let i = 0; i + 1 < pieces.length; i++) {
    add(Array.from(pieces[i]).at(-1)! + Array.from(pieces[i + 1])[0]);
  }
  for (let b = 0; b < 256; b++) {
    if (!ranks.has(String.fromCharCode(b))) ranks.set(String.fromCharCode(b), ranks.size);
  }
  for (const piece of pieces) {
    const chars = Array.from(piece);
    for (let k = 2; k <= chars.length; k++) add(chars.slice(0, k).join(""));
  }
  const expected: number[] = [];
  for (const piece of pieces) bytePairEncode(binary(utf8.encode(piece)), ranks, expected);
  const tiktoken = rustTiktokenWithRanks(
    Array.from(ranks.keys(), (key) => Uint8Array.from(key, (c) => c.charCodeAt(0))),
  );
  try {
    return { rust: tiktoken.encode(text), expected };
  } finally {
    tiktoken.free();
  }
}

function binary(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function assertRustAgrees(text: string): void {
  const pieces = pretokenize(text);
  const { rust, expected } = probeRust(text, pieces);
  assert.deepEqual(expected, rust, `${JSON.stringify(text)}: our pieces ${JSON.stringify(pieces)}`);
}

Deno.test("pretokenize: piece boundaries agree with tiktoken's Rust regex (probe)", () => {
  for (const { text } of CORPUS) {
    if (text.length <= 2000) assertRustAgrees(text.toWellFormed());
  }
  const random = seededRandom(7);
  for (let k = 0; k < 300; k++) assertRustAgrees(fuzzText(random));
});

Deno.test("pretokenize: the probe notices wrong boundaries", () => {
  // Guard against a probe that always passes: feed it splits that Rust does not make.
  const wrong: [string, string[]][] = [
    ["ab cd", ["ab", " c", "d"]], // one boundary too many
    ["ab cd", ["ab cd"]], // one too few
    ["x \u0085y", ["x", " \u0085", "y"]], // JavaScript's \s
    ["a \ufeff b", ["a", " \ufeff ", "b"]],
    ["'ſam", ["'", "ſam"]], // no case folding
  ];
  for (const [text, pieces] of wrong) {
    const { rust, expected } = probeRust(text, pieces);
    assert.notDeepEqual(expected, rust, JSON.stringify(pieces));
  }
});

Deno.test("metaSubstrings: cuts runs longer than 25000 characters as Meta's code does", () => {
  // Derived by hand from Meta's _split_whitespaces_or_nonwhitespaces.
  assert.deepEqual(metaSubstrings("short text"), ["short text"]);
  const a = "a".repeat(25000);
  assert.deepEqual(metaSubstrings(a), [a]);
  assert.deepEqual(metaSubstrings(a + "a"), [a, "a"]);
  assert.deepEqual(metaSubstrings(a + "a b"), [a, "a b"]);
  assert.deepEqual(metaSubstrings("x " + a + "a"), ["x " + a, "a"]);
  assert.deepEqual(metaSubstrings(a + a + "aa"), [a, a, "aa"]);
  // Spaces count as Python's isspace(): U+001C..U+001F are spaces there.
  const seps = "\u001c".repeat(25001);
  assert.deepEqual(metaSubstrings("x" + seps), ["x" + seps.slice(1), "\u001c"]);
  // Characters, not UTF-16 units: 25000 emoji are one run of 25000.
  const emoji = "😀".repeat(25000);
  assert.deepEqual(metaSubstrings(emoji + "😀"), [emoji, "😀"]);
  // 400000-character slices first; a run restarts at each slice.
  const words = "ab ".repeat(140000); // 420000 characters
  assert.deepEqual(metaSubstrings(words), [words.slice(0, 400000), words.slice(400000)]);
});
