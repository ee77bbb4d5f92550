/**
 * Hard strings for comparing tokenizers: every script, emoji and whitespace oddity we could
 * think of. Shared by the tokenizer and pre-tokenizer tests.
 *
 * @module
 */

import { seededRandom } from "./llama3_tokenizer.ts";

/** One corpus entry. */
export interface CorpusEntry {
  name: string;
  text: string;
  /**
   * Set where js-tiktoken (a JavaScript regex) is known to split differently from tiktoken's
   * Rust regex: why, and the pieces Rust's semantics give, derived by hand.
   */
  jsDeviation?: { why: string; rustPieces?: string[] };
}

/**
 * A long pseudo-random text mixing scripts, numbers, punctuation, emoji and whitespace.
 * `withJsTraps` adds U+FEFF and U+0085, on which JavaScript's `\s` differs from Rust's.
 */
export function randomText(seed: number, length: number, withJsTraps = false): string {
  const random = seededRandom(seed);
  const words = [
    "the",
    "The",
    "tokenizer",
    "isn't",
    "YOU'RE",
    "we'll",
    "naïve",
    "café",
    "İstanbul",
    "ılık",
    "東京",
    "自然语言",
    "한국어",
    "مرحبا",
    "नमस्ते",
    "русский",
    "Ελληνικά",
    "שלום",
    "ภาษาไทย",
    "3.14159",
    "2024",
    "١٢٣",
    "①②",
    "x86_64",
    "f(x)",
    "a+b=c",
    "https://ex.am/p?q=1",
    "😀",
    "👨‍👩‍👧‍👦",
    "🇩🇪",
    "👍🏽",
    "#️⃣",
    "e\u0301",
    "<|eot_id|>",
    "...",
    "?!",
    "—",
    "“quoted”",
    "it’s",
    "donʼt",
    "'ſ",
    "\u00a0",
    "\u3000",
    "\u2028",
    "Z\u0351\u0358",
    ...(withJsTraps ? ["\ufeff", "\u0085", " \ufeff", "\u0085 "] : []),
  ];
  const gaps = [" ", " ", " ", " ", "  ", "\n", "\n\n", "\t", " \n", "\r\n", ", ", ". ", ""];
  let text = "";
  while (text.length < length) {
    text += words[Math.floor(random() * words.length)];
    text += gaps[Math.floor(random() * gaps.length)];
  }
  return text;
}

/** A 4000-character base64-like run without spaces: one very long pre-tokenizer piece. */
function longPiece(seed: number): string {
  const random = seededRandom(seed);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let text = "";
  for (let i = 0; i < 4000; i++) text += alphabet[Math.floor(random() * alphabet.length)];
  return text;
}

/** The corpus: more than 40 strings, each named for what it exercises. */
export const CORPUS: readonly CorpusEntry[] = [
  { name: "Meta's test sentence", text: "This is a test sentence." },
  { name: "plain English", text: "Hello, world! How's it going? Fine, thanks." },
  {
    name: "upper-case contractions",
    text: "I'M HERE, YOU'RE THERE, WE'VE GOT IT, THEY'LL SEE, HE'D KNOW, IT'S DONE, DON'T",
  },
  {
    name: "lower-case contractions",
    text: "i'm here, you're there, we've, they'll, he'd, it's, don't, 'tis",
  },
  { name: "mixed-case contractions", text: "I'm i'M 'Re 'rE 'lL 'Ll 'vE 'D 'T 'S 'sS 'x" },
  { name: "typographic apostrophe", text: "it’s, don’t, we’re, ’s ‘quoted’" },
  { name: "modifier-letter apostrophes", text: "itʼs, donʼt, Hawaiʻi, ʼsʼ" },
  { name: "long s contraction", text: "'ſ Iſ'ſ 'ſam X'ſtop 'ſſ ’ſ" },
  { name: "Kelvin and Angstrom signs", text: "'K 'k 'Å 300K Å 'KELVIN" },
  { name: "emoji", text: "I ❤️ tokenizers 😀😃😄 🤖!" },
  { name: "ZWJ sequences", text: "👨‍👩‍👧‍👦 👩🏽‍💻 🏳️‍🌈 🧑‍🤝‍🧑 ❤️‍🔥" },
  { name: "flags", text: "🇩🇪🇫🇷🇯🇵 🇺🇸 🏴󠁧󠁢󠁳󠁣󠁴󠁿 flag" },
  { name: "skin tones", text: "👍🏻👍🏼👍🏽👍🏾👍🏿 👋🏽 hi" },
  { name: "keycaps and variation selectors", text: "#️⃣ 1️⃣ ©️ ™ ☺︎ ☺️" },
  { name: "CJK", text: "我爱自然语言处理。東京は日本の首都です。한국어 텍스트" },
  { name: "Japanese with full-width digits", text: "カタカナとひらがな、漢字123と全角１２３" },
  { name: "Turkish dotted and dotless i", text: "İstanbul'da ılık bir gün. IĞDIR ığdır İi Iı" },
  { name: "Arabic with Arabic-Indic digits", text: "مرحبا بالعالم! اللغة العربية ١٢٣٤٥" },
  { name: "Hindi with Devanagari digits", text: "नमस्ते दुनिया, हिन्दी भाषा ०१२३४५६७८९" },
  { name: "Greek and Cyrillic", text: "Ελληνικά και русский язык" },
  { name: "Thai and Hebrew", text: "ภาษาไทยไม่มีช่องว่าง שלום עולם" },
  { name: "combining marks", text: "café naïve résumé e\u0301 a\u0308 Z\u0351\u0358a\u0362lgo" },
  { name: "numbers", text: "1234567890123 3.14159 1,000,000 -42 +7e10 0x1F" },
  {
    name: "long digit run",
    text: "31415926535897932384626433832795028841971693993751058209749445923",
  },
  { name: "unicode digits", text: "٣٤٥ ۴۵۶ ௧௨௩ ①②③ Ⅻ ½ ¼ ²³ 𝟙𝟚𝟛 ７８９" },
  { name: "letters and digits", text: "abc123def4567ghi H2O CO2 x86_64 v1.2.3" },
  { name: "runs of spaces and tabs", text: "a  b   c    d\t\te\t \tf     " },
  {
    name: "newlines",
    text: "line1\nline2\n\nline3\r\nline4\r\n\r\n\n  indented\n\t\ttabbed\n",
  },
  { name: "only whitespace", text: " \n \n\t \n   " },
  { name: "leading and trailing spaces", text: "   leading and trailing   " },
  {
    name: "Python code",
    text: "def f(x):\n    return x**2  # square\n\n\nprint(f(3))\n",
  },
  {
    name: "JavaScript code",
    text: "const a = {b: [1, 2, 3]};\nif (a.b?.length >= 2) { console.log(`ok ${a}`); }",
  },
  { name: "HTML and JSON", text: '<div class="x">Hi &amp; bye</div>\n{"key": "value", "n": null}' },
  { name: "punctuation runs", text: "Wait... what?!?! (((nested))) --- *** ___ ~~~\n\n\n" },
  { name: "URL and e-mail", text: "https://example.com/path?q=1&r=2#frag user@example.org" },
  { name: "math symbols", text: "∑_{i=1}^{n} x_i² ≤ ∞ ≠ √2 ∂f/∂x ∀x∈ℝ" },
  { name: "no-break space U+00A0", text: "non\u00a0breaking\u00a0\u00a0space 100\u00a0km \u00a0" },
  { name: "em space U+2003", text: "em\u2003space\u2003\u2003x \u2003\u2003" },
  { name: "ideographic space U+3000", text: "全角\u3000スペース\u3000\u3000です\u3000" },
  { name: "BOM U+FEFF", text: "\ufeffBOM at start and\ufeff\ufeff inside \ufeff" },
  {
    name: "BOM between spaces",
    text: "a \ufeff b  \ufeff  c",
    jsDeviation: {
      why: "JavaScript's \\s includes U+FEFF, Rust's (White_Space) does not: in Rust the BOM " +
        "is punctuation-like and ends the space runs around it",
      rustPieces: ["a", " \ufeff", " b", " ", " \ufeff", " ", " c"],
    },
  },
  { name: "next line U+0085", text: "NEL\u0085line\u0085\u0085x \u0085" },
  {
    name: "next line U+0085 after a space",
    text: "x \u0085y end  \u0085",
    jsDeviation: {
      why: "Rust's \\s includes U+0085 (NEL), JavaScript's does not: in Rust ' \\u0085' is " +
        "a space run, so the NEL joins the next word and a trailing run stays whole",
      rustPieces: ["x", " ", "\u0085y", " end", "  \u0085"],
    },
  },
  { name: "next line before punctuation", text: "a\u0085\u0085!\u0085 (x)\u0085\u0085" },
  { name: "line and paragraph separators", text: "line\u2028separator\u2029para \u2028\u2028 x" },
  {
    name: "other whitespace and separators",
    text: "a\u000b\u000cb\u001c\u001fc\u1680d\u202fe\u205ff\u200bg\u180eh",
  },
  { name: "control characters", text: "tab\tnul\u0000bell\u0007esc\u001b[0m del\u007f" },
  {
    name: "special-token look-alikes",
    text: "<|begin_of_text|>Hello<|eot_id|> <|start_header_id|>user<|end_header_id|>\n\n",
  },
  {
    name: "broken special tokens",
    text: "<|eot_id| <|not_a_token|> <| eot_id |> <|reserved_special_token_300|> <<|eot_id|>>",
  },
  { name: "lone surrogates", text: "bad \ud800 surrogate \udfff end \udbff" },
  { name: "repeated letters", text: "a".repeat(200) + " " + "ab".repeat(150) },
  { name: "repeated punctuation", text: "!".repeat(300) + "\n" + "=-".repeat(100) },
  { name: "long piece (base64-like)", text: longPiece(7) },
  { name: "long random-ish text", text: randomText(42, 20_000) },
  {
    name: "long random-ish text with U+FEFF and U+0085",
    text: randomText(43, 20_000, true),
    jsDeviation: { why: "contains U+FEFF and U+0085 next to spaces (see the entries above)" },
  },
];
