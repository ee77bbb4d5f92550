/**
 * Emoji annotation tests. Expected names are written by hand from the Unicode CLDR names
 * (checked against the gemoji data read here independently), or taken from the seed
 * project's own Go tests (`cmd/main_test.go` of llama-nuts-and-bolts); code point escapes
 * are written by hand.
 */

import assert from "node:assert/strict";
import { gemoji } from "gemoji";
import { aliasFromCldrName, annotateEmoji, EmojiAnnotator, emojiName } from "../lib/cli/emoji.ts";
import { Xoshiro128StarStar } from "../lib/generate/random.ts";

/** The CLDR name gemoji gives an emoji (its `description`). */
function cldrName(emoji: string): string | undefined {
  return gemoji.find((entry) => entry.emoji === emoji)?.description;
}

Deno.test("the gemoji data carries the CLDR names the expectations are written from", () => {
  assert.equal(cldrName("🇹🇷"), "flag: Turkey");
  assert.equal(cldrName("🇺🇸"), "flag: United States");
  assert.equal(cldrName("👨‍👩‍👧"), "family: man, woman, girl");
  assert.equal(cldrName("👍"), "thumbs up");
  assert.equal(cldrName("❤️"), "red heart");
  assert.equal(cldrName("1️⃣"), "keycap: 1");
  assert.equal(cldrName("🦸‍♂️"), "man superhero");
});

Deno.test("flags", () => {
  // Exactly the seed's expected output for 🇹🇷.
  assert.equal(annotateEmoji("🇹🇷"), "🇹🇷 [:flag_for_turkey:\\U0001F1F9\\U0001F1F7]");
  assert.equal(
    annotateEmoji("from 🇺🇸!"),
    "from 🇺🇸 [:flag_for_united_states:\\U0001F1FA\\U0001F1F8]!",
  );
  assert.equal(emojiName("🇹🇷"), "flag_for_turkey");
  // Two flags in a row pair up as flags, not as 🇷🇺 in the middle.
  assert.equal(
    annotateEmoji("🇹🇷🇺🇸"),
    "🇹🇷 [:flag_for_turkey:\\U0001F1F9\\U0001F1F7]" +
      "🇺🇸 [:flag_for_united_states:\\U0001F1FA\\U0001F1F8]",
  );
  // A lone regional indicator gets its Unicode character name, as in the seed.
  assert.equal(annotateEmoji("🇹"), "🇹 [:regional_indicator_symbol_letter_t:\\U0001F1F9]");
  // A tag-sequence flag (CLDR "flag: England").
  assert.equal(emojiName("🏴󠁧󠁢󠁥󠁮󠁧󠁿"), "flag_for_england");
});

Deno.test("ZWJ sequences, as in the seed's tests", () => {
  assert.equal(
    annotateEmoji("👨‍👩‍👧"),
    "👨‍👩‍👧 [:family_man_woman_girl:\\U0001F468\\U0000200D\\U0001F469\\U0000200D\\U0001F467]",
  );
  assert.equal(
    annotateEmoji("🦸‍♂️👨‍👩‍👧‍👦"),
    "🦸‍♂️ [:man_superhero:\\U0001F9B8\\U0000200D\\U00002642\\U0000FE0F]" +
      "👨‍👩‍👧‍👦 [:family_man_woman_girl_boy:" +
      "\\U0001F468\\U0000200D\\U0001F469\\U0000200D\\U0001F467\\U0000200D\\U0001F466]",
  );
  // Other names from the seed's tests.
  assert.equal(annotateEmoji("👀 I"), "👀 [:eyes:\\U0001F440] I");
  assert.equal(emojiName("🛬"), "airplane_arrival");
  assert.equal(emojiName("🚂"), "locomotive");
  assert.equal(emojiName("🌄"), "sunrise_over_mountains");
  assert.equal(emojiName("🦸"), "superhero");
  // 🕰 without VS16 (the seed fell back to "MANTELPIECE CLOCK" here).
  assert.equal(annotateEmoji("🕰"), "🕰 [:mantelpiece_clock:\\U0001F570]");
  // A sequence the data does not know: named by its parts.
  assert.equal(annotateEmoji("👨‍🐕"), "👨‍🐕 [:man:+:dog:\\U0001F468\\U0000200D\\U0001F415]");
});

Deno.test("skin tones: the base name and the CLDR tone names", () => {
  // CLDR: "thumbs up: medium skin tone".
  assert.equal(
    annotateEmoji("👍🏽"),
    "👍🏽 [:thumbs_up_medium_skin_tone:\\U0001F44D\\U0001F3FD]",
  );
  // CLDR: "woman technologist: dark skin tone".
  assert.equal(emojiName("👩🏿‍💻"), "woman_technologist_dark_skin_tone");
  // CLDR: "people holding hands: light skin tone, dark skin tone".
  assert.equal(
    emojiName("🧑🏻‍🤝‍🧑🏿"),
    "people_holding_hands_light_skin_tone_dark_skin_tone",
  );
  // CLDR: "victory hand: medium-light skin tone" (the base is ✌️, the toned form has no VS16).
  assert.equal(emojiName("✌🏼"), "victory_hand_medium_light_skin_tone");
  // A lone swatch: CLDR "medium-dark skin tone".
  assert.equal(annotateEmoji("🏾"), "🏾 [:medium_dark_skin_tone:\\U0001F3FE]");
});

Deno.test("variation selectors: ❤️ and ❤ are both red_heart; ❤︎ (VS15) stays text", () => {
  assert.equal(annotateEmoji("❤️"), "❤️ [:red_heart:\\U00002764\\U0000FE0F]");
  assert.equal(annotateEmoji("❤"), "❤ [:red_heart:\\U00002764]");
  assert.equal(annotateEmoji("\u2764\uFE0E"), "\u2764\uFE0E");
  // Text-style symbols are left alone unless VS16 asks for the emoji.
  assert.equal(annotateEmoji("© 2024 ACME™"), "© 2024 ACME™");
  assert.equal(annotateEmoji("©️"), "©️ [:copyright:\\U000000A9\\U0000FE0F]");
});

Deno.test("keycaps", () => {
  assert.equal(annotateEmoji("1️⃣"), "1️⃣ [:keycap_1:\\U00000031\\U0000FE0F\\U000020E3]");
  assert.equal(annotateEmoji("1\u20E3"), "1\u20E3 [:keycap_1:\\U00000031\\U000020E3]");
  // "keycap: #": '#' spelled out as the seed's Go package does.
  assert.equal(emojiName("#️⃣"), "keycap_hash");
  assert.equal(annotateEmoji("Step 1: done"), "Step 1: done");
});

Deno.test("plain text is unchanged", () => {
  for (
    const text of [
      "",
      "Hello, world!\n",
      "naïve café — “quotes” → arrows ★ ✓",
      "日本語のテキスト، عربى, עברית",
      "e\u0301 combining, 12345, #hashtag, a*b",
      "tabs\tand\r\nnewlines",
    ]
  ) {
    assert.equal(annotateEmoji(text), text);
  }
});

Deno.test("every emoji in the data is found as one emoji with a name", () => {
  for (const { emoji } of gemoji) {
    const annotated = annotateEmoji(emoji);
    assert.ok(annotated.startsWith(`${emoji} [:`), `${emoji} -> ${annotated}`);
    assert.notEqual(emojiName(emoji), undefined);
  }
});

Deno.test("CLDR names become the seed's alias style", () => {
  const cases: [string, string][] = [
    ["flag: Turkey", "flag_for_turkey"],
    ["flag: Turks & Caicos Islands", "flag_for_turks_and_caicos_islands"],
    ["flag: Côte d’Ivoire", "flag_for_cote_d_ivoire"],
    ["flag: U.S. Virgin Islands", "flag_for_us_virgin_islands"],
    ["family: man, woman, girl", "family_man_woman_girl"],
    ["man: red hair", "man_with_red_hair"],
    ["woman: beard", "woman_with_beard"],
    ["man: bald", "man_bald"],
    ["keycap: *", "keycap_asterisk"],
    ["1st place medal", "first_place_medal"],
    ["Japanese “here” button", "japanese_here_button"],
    ["grinning face", "grinning_face"],
  ];
  for (const [name, alias] of cases) assert.equal(aliasFromCldrName(name), alias, name);
});

const MIXED = "Hi 👋! I'm from 🇹🇷🇺🇸, I ❤️ ❤ pizza 🍕🍕 and 👍🏽👍. Family: 👨‍👩‍👧‍👦 " +
  "and 🦸‍♂️; call 1️⃣ or #️⃣ at 10:30 © naïve e\u0301 🏾 🇹 x\n日本 🕰 end 🇺";

Deno.test("streaming: any split gives the same output as the whole text", () => {
  const whole = annotateEmoji(MIXED);
  // Every split into two pieces, at every UTF-16 index (even inside a surrogate pair).
  for (let i = 0; i <= MIXED.length; i++) {
    const annotator = new EmojiAnnotator();
    const out = annotator.push(MIXED.slice(0, i)) + annotator.push(MIXED.slice(i)) +
      annotator.flush();
    assert.equal(out, whole, `split at ${i}`);
  }
  // One code point at a time, as a token stream may deliver them.
  const annotator = new EmojiAnnotator();
  let out = "";
  for (const ch of MIXED) out += annotator.push(ch);
  assert.equal(out + annotator.flush(), whole);
  // Random splits into many pieces.
  const rng = Xoshiro128StarStar.fromSeed(11);
  for (let trial = 0; trial < 200; trial++) {
    const annotator = new EmojiAnnotator();
    let out = "";
    let i = 0;
    while (i < MIXED.length) {
      const step = 1 + (rng.nextUint32() % 6);
      out += annotator.push(MIXED.slice(i, i + step));
      i += step;
    }
    assert.equal(out + annotator.flush(), whole, `trial ${trial}`);
  }
});

Deno.test("streaming: plain text passes through at once; emoji wait until complete", () => {
  const annotator = new EmojiAnnotator();
  assert.equal(annotator.push("Hello"), "Hello");
  assert.equal(annotator.push(" wor"), " wor");
  assert.equal(annotator.push("ld 👍"), "ld ");
  assert.equal(annotator.push("\u{1F3FD}"), ""); // a skin tone joined the thumbs up
  assert.equal(annotator.push(" ok"), "👍🏽 [:thumbs_up_medium_skin_tone:\\U0001F44D\\U0001F3FD] ok");
  assert.equal(annotator.push("\u0301"), "\u0301"); // an accent on the "k" already shown
  assert.equal(annotator.flush(), "");
  // A trailing digit may still become a keycap.
  const keycap = new EmojiAnnotator();
  assert.equal(keycap.push("press 1"), "press ");
  assert.equal(keycap.push("\uFE0F\u20E3"), "");
  assert.equal(keycap.flush(), "1️⃣ [:keycap_1:\\U00000031\\U0000FE0F\\U000020E3]");
});
