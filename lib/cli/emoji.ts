/**
 * Names and code points after each emoji in generated text, as the seed project
 * (llama-nuts-and-bolts) prints them, so that a terminal that cannot draw an emoji still
 * shows what the model wrote:
 *
 * ```text
 * 🇹🇷[:flag_for_turkey:\U0001F1F9\U0001F1F7]
 * ```
 *
 * After the emoji: `[`, its name between colons (left out when unknown), then every code
 * point of the emoji in order, including joiners (U+200D) and variation selectors
 * (U+FE0F), as `\U` and eight uppercase hex digits, then `]`. No space is inserted, exactly
 * as in the seed's tests.
 *
 * **Where the names come from.** The seed used the Go package `enescakir/emoji`, which
 * builds its aliases from the CLDR short names in Unicode's `emoji-test.txt` and adds
 * GitHub's gemoji aliases. Its rule turns "flag: Turkey" into `flag_for_turkey`,
 * "family: man, woman, girl" into `family_man_woman_girl` and "man: red hair" into
 * `man_with_red_hair`. GitHub's own short codes are often terser (`tr`, `+1`, `heart`),
 * so for fidelity we apply the same rule ({@linkcode aliasFromCldrName}) to the CLDR names
 * that the npm package `gemoji` (GitHub's emoji database) ships as `description`.
 *
 * **Which text counts as an emoji.** Text is split into grapheme clusters with
 * `Intl.Segmenter`, so a flag (two regional indicators), a keycap (`1️⃣`), a skin-toned
 * emoji (`👍🏽`) or a ZWJ family (`👨‍👩‍👧`) is one unit. A cluster is an emoji when it is a
 * regional indicator or a pair of them, a keycap, a lone skin-tone swatch, or starts with
 * an Extended_Pictographic code point that is drawn as an emoji: default emoji
 * presentation, or followed by VS16 / a skin tone / a joiner, or from the pictograph
 * planes (U+1F000 and up, e.g. 🕰 without VS16), or a known emoji from U+2300 up
 * (bare ❤ or ✈). Text-style symbols from the older blocks (©, ™, ‼, ↔) and anything
 * with VS15 (U+FE0E) stay plain text unless written with VS16.
 *
 * **Lookup.** The exact sequence; then the sequence without VS16 (so ❤ and ❤️ are both
 * `red_heart`, 1⃣ and 1️⃣ both `keycap_1`); then, for skin tones, the emoji without its
 * tone modifiers followed by the CLDR tone names in order (`thumbs_up_medium_skin_tone`,
 * as CLDR names 👍🏽 "thumbs up: medium skin tone"). A lone regional indicator is named after
 * its Unicode character name (`regional_indicator_symbol_letter_t`). An unknown ZWJ
 * sequence is annotated with the names of its parts joined by `+`.
 *
 * @example
 * ```ts
 * import { annotateEmoji, EmojiAnnotator } from "./emoji.ts";
 *
 * annotateEmoji("Hi 👋"); // "Hi 👋[:waving_hand:\U0001F44B]"
 *
 * const annotator = new EmojiAnnotator();
 * let out = annotator.push("ok 🇹"); // "ok " — the flag may not be finished
 * out += annotator.push("🇷"); // "" — held until the next piece shows the emoji is complete
 * out += annotator.flush(); // "🇹🇷[:flag_for_turkey:\U0001F1F9\U0001F1F7]"
 * ```
 *
 * @module
 */

// Pinned here so the data (and so every name we print) changes only when we choose to.
import { gemoji } from "gemoji";

const ZWJ = 0x200d;
const VS15 = 0xfe0e;
const VS16 = 0xfe0f;
const KEYCAP = 0x20e3;
const REGIONAL_A = 0x1f1e6;
const REGIONAL_Z = 0x1f1ff;
const TONE_FIRST = 0x1f3fb;
const TONE_LAST = 0x1f3ff;

/** CLDR names of the five skin-tone modifiers U+1F3FB..U+1F3FF, as aliases. */
const TONE_NAMES = [
  "light_skin_tone",
  "medium_light_skin_tone",
  "medium_skin_tone",
  "medium_dark_skin_tone",
  "dark_skin_tone",
];

const EXTENDED_PICTOGRAPHIC = /^\p{Extended_Pictographic}$/u;
const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}$/u;

/** Spelled-out replacements the seed's Go package applies before dropping punctuation. */
const WORDS: [RegExp, string][] = [
  [/&/g, " and "],
  [/\*/g, " asterisk "],
  [/#/g, " hash "],
  [/\b1st\b/g, "first"],
  [/\b2nd\b/g, "second"],
  [/\b3rd\b/g, "third"],
  [/U\.S\./g, "US"],
];

/**
 * Turns a CLDR short name into an alias the way the seed's Go emoji package does:
 * the qualifiers after the colon are appended with "for" (flags) or "with" (hair, beard)
 * or a plain space; `&`, `*`, `#` are spelled out; accents are dropped; everything else
 * that is not a letter or digit becomes `_`; all lowercase.
 *
 * @param name a CLDR name such as "flag: Turkey" or "family: man, woman, girl"
 * @returns the alias, e.g. `flag_for_turkey` or `family_man_woman_girl`
 */
export function aliasFromCldrName(name: string): string {
  const colon = name.indexOf(":");
  let words = colon < 0 ? name : name.slice(0, colon);
  if (colon >= 0) {
    for (const raw of name.slice(colon + 1).split(",")) {
      const qualifier = raw.trim();
      if (/hair|beard/.test(qualifier) && !/tone/.test(qualifier)) words += ` with ${qualifier}`;
      else if (words.startsWith("flag")) words += ` for ${qualifier}`;
      else words += ` ${qualifier}`;
    }
  }
  for (const [pattern, word] of WORDS) words = words.replace(pattern, word);
  return words
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

interface NameTables {
  /** gemoji's sequence -> alias */
  exact: Map<string, string>;
  /** the sequence without VS16 -> alias (first entry wins) */
  bare: Map<string, string>;
}

let tables: NameTables | undefined;

/** Builds the lookup tables from the gemoji data on first use (about 1900 entries). */
function nameTables(): NameTables {
  if (tables) return tables;
  const exact = new Map<string, string>();
  const bare = new Map<string, string>();
  for (const entry of gemoji) {
    const alias = aliasFromCldrName(entry.description);
    exact.set(entry.emoji, alias);
    const key = withoutSelectors(entry.emoji);
    if (!bare.has(key)) bare.set(key, alias);
  }
  tables = { exact, bare };
  return tables;
}

function withoutSelectors(text: string): string {
  return text.replace(/[\uFE0E\uFE0F]/g, "");
}

function isTone(cp: number): boolean {
  return cp >= TONE_FIRST && cp <= TONE_LAST;
}

function isRegional(cp: number): boolean {
  return cp >= REGIONAL_A && cp <= REGIONAL_Z;
}

function isKeycapBase(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || cp === 0x23 || cp === 0x2a;
}

function codePoints(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) out.push(ch.codePointAt(0)!);
  return out;
}

/** Exact sequence, then without variation selectors. */
function lookup(sequence: string): string | undefined {
  const { exact, bare } = nameTables();
  return exact.get(sequence) ?? bare.get(withoutSelectors(sequence));
}

/**
 * The name of one emoji (one grapheme cluster), in the seed's alias style.
 *
 * @param cluster one grapheme cluster, e.g. "🇹🇷" or "👍🏽"
 * @returns the alias without colons (`flag_for_turkey`, `thumbs_up_medium_skin_tone`), or
 *   `undefined` when the sequence is not a known emoji
 */
export function emojiName(cluster: string): string | undefined {
  const direct = lookup(cluster);
  if (direct !== undefined) return direct;

  const cps = codePoints(cluster);
  const tones: string[] = [];
  for (const cp of cps) {
    const tone = TONE_NAMES[cp - TONE_FIRST];
    if (isTone(cp) && !tones.includes(tone)) tones.push(tone);
  }
  if (tones.length > 0) {
    const base = String.fromCodePoint(...cps.filter((cp) => !isTone(cp)));
    if (withoutSelectors(base) === "") return tones.join("_"); // a lone swatch
    const baseName = lookup(base);
    if (baseName !== undefined) return `${baseName}_${tones.join("_")}`;
  }
  if (cps.length === 1 && isRegional(cps[0])) {
    const letter = String.fromCharCode(0x61 + cps[0] - REGIONAL_A);
    return `regional_indicator_symbol_letter_${letter}`;
  }
  return undefined;
}

/** Whether a grapheme cluster is shown as an emoji (see the module doc for the rule). */
function isEmojiCluster(cluster: string): boolean {
  const first = cluster.codePointAt(0);
  if (first === undefined) return false;
  if (isRegional(first) || isTone(first)) return true;
  const cps = codePoints(cluster);
  if (isKeycapBase(first)) return cps.includes(KEYCAP);
  if (!EXTENDED_PICTOGRAPHIC.test(String.fromCodePoint(first))) return false;
  if (cps.includes(VS15)) return false;
  if (EMOJI_PRESENTATION.test(String.fromCodePoint(first))) return true;
  if (cps.some((cp) => cp === VS16 || cp === ZWJ || cp === KEYCAP || isTone(cp))) return true;
  if (first >= 0x1f000) return true;
  return first >= 0x2300 && emojiName(cluster) !== undefined;
}

/**
 * Whether text appended to a cluster starting with this code point could make it an emoji
 * (or a different one): a pictograph can still get VS16, a skin tone or a joiner, a
 * regional indicator its partner, a digit its keycap.
 */
function mayGrowIntoEmoji(cluster: string): boolean {
  const first = cluster.codePointAt(0);
  if (first === undefined) return false;
  return isRegional(first) || isTone(first) || isKeycapBase(first) ||
    EXTENDED_PICTOGRAPHIC.test(String.fromCodePoint(first));
}

/** A name for a sequence the data does not know: its ZWJ-joined parts, by name. */
function partsName(cluster: string): string | undefined {
  const parts = cluster.split("\u200d").filter((p) => p !== "");
  const names = parts.map((part) => {
    const name = emojiName(part);
    if (name !== undefined) return `:${name}:`;
    const cps = codePoints(withoutSelectors(part));
    if (cps.length > 1 && cps.every(isRegional)) {
      return cps.map((cp) => `:${emojiName(String.fromCodePoint(cp))}:`).join("+");
    }
    return "?";
  });
  return names.some((n) => n !== "?") ? names.join("+") : undefined;
}

/** The `[:name:\U…]` suffix for one emoji cluster. */
function annotation(cluster: string): string {
  const name = emojiName(cluster);
  const label = name !== undefined ? `:${name}:` : partsName(cluster) ?? "";
  let escapes = "";
  for (const cp of codePoints(cluster)) {
    escapes += `\\U${cp.toString(16).toUpperCase().padStart(8, "0")}`;
  }
  return `[${label}${escapes}]`;
}

/** One cluster, with its annotation appended when it is an emoji. */
function annotateCluster(cluster: string): string {
  // A space between the emoji and its note, as in `🇹🇷 [:flag_for_turkey:…]`: terminals draw
  // many emoji two columns wide and would otherwise overlap the bracket.
  return isEmojiCluster(cluster) ? `${cluster} ${annotation(cluster)}` : cluster;
}

let segmenter: Intl.Segmenter | undefined;

function graphemes(text: string): string[] {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: "grapheme" });
  const out: string[] = [];
  for (const { segment } of segmenter.segment(text)) out.push(segment);
  return out;
}

/**
 * Inserts `[:name:\U…]` after each emoji of a complete text.
 *
 * @param text any text
 * @returns the text with an annotation after each emoji; text without emoji is returned as is
 * @example
 * ```ts
 * import { annotateEmoji } from "./emoji.ts";
 *
 * annotateEmoji("❤️"); // "❤️[:red_heart:\U00002764\U0000FE0F]"
 * ```
 */
export function annotateEmoji(text: string): string {
  let out = "";
  for (const cluster of graphemes(text)) out += annotateCluster(cluster);
  return out;
}

/**
 * {@linkcode annotateEmoji} for text that arrives in pieces (streamed tokens).
 *
 * A trailing cluster that could still grow into an emoji, or into a different one (a
 * pictograph, regional indicator, skin tone, or digit), is held back until the next piece
 * or {@linkcode EmojiAnnotator.flush}. Other text is passed through at once; if a later
 * piece extends its last cluster (a combining accent, say), that extension is passed through
 * too, since such a cluster can never become an emoji. A piece may even end between the
 * two halves of a surrogate pair. The concatenated output equals `annotateEmoji` of the
 * concatenated input, however the input is split.
 */
export class EmojiAnnotator {
  /** A high surrogate that ended the last piece; its low half comes with the next. */
  #carry = "";
  /** Held-back last cluster, not yet output. */
  #pending = "";
  /** Last cluster, already output; later pieces may still extend it. */
  #context = "";

  /**
   * Adds a piece of text.
   *
   * @param text the next piece
   * @returns the text that is now final, annotated
   */
  push(text: string): string {
    text = this.#carry + text;
    this.#carry = "";
    const lastUnit = text.charCodeAt(text.length - 1);
    if (lastUnit >= 0xd800 && lastUnit <= 0xdbff) {
      this.#carry = text.slice(-1);
      text = text.slice(0, -1);
    }
    if (text === "") return "";
    const head = this.#context;
    const clusters = graphemes(head + this.#pending + text);
    this.#pending = "";
    this.#context = "";
    let out = "";
    const last = clusters.length - 1;
    for (let i = 0; i <= last; i++) {
      const cluster = clusters[i];
      if (i === 0 && head !== "") {
        // Grew from an already-output cluster that cannot be an emoji: output the growth.
        out += cluster.slice(head.length);
        if (i === last) this.#context = cluster;
      } else if (i === last && mayGrowIntoEmoji(cluster)) {
        this.#pending = cluster;
      } else {
        out += annotateCluster(cluster);
        if (i === last) this.#context = cluster;
      }
    }
    return out;
  }

  /**
   * Ends the stream: outputs whatever was held back.
   *
   * @returns the held-back text, annotated
   */
  flush(): string {
    const out = (this.#pending === "" ? "" : annotateCluster(this.#pending)) + this.#carry;
    this.#pending = "";
    this.#carry = "";
    this.#context = "";
    return out;
  }
}
