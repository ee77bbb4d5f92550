/**
 * Chapter 15's worked example: a text with emoji encoded by the real Llama 3 tokenizer, then
 * streamed back token by token: what decoding each token alone would print, what `Utf8Stream`
 * prints (whole characters only, the rest held back), and what `EmojiAnnotator` adds.
 *
 * ```sh
 * deno task demo        # puts tokenizer.model next to the demo model
 * deno run --allow-read --allow-env docs/examples/15_streaming.ts [MODEL_DIR] [TEXT]
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { EmojiAnnotator } from "../../lib/cli/emoji.ts";
import { LlamaError } from "../../lib/errors.ts";
import { Utf8Stream } from "../../lib/generate/utf8_stream.ts";
import { Tokenizer } from "../../lib/tokenizer/tokenizer.ts";

const dir = Deno.args[0] || Deno.env.get("LLAMA_MODEL") ||
  join(Deno.env.get("HOME") ?? ".", ".cache", "llama-bolts", "demo-tiny");
const text = Deno.args[1] ?? "Hi 👋 🇹🇷 👨‍👩‍👧!";
let tokenizer: Tokenizer;
try {
  tokenizer = Tokenizer.load(join(dir, "tokenizer.model"));
} catch (error) {
  if (!(error instanceof LlamaError)) throw error;
  console.error(`error: ${error.message}`);
  console.error(
    "(this example reads the demo model: run 'deno task demo' first, or pass a folder)",
  );
  Deno.exit(1);
}

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");
/** Quoted, with the invisible joiner and variation selectors spelled out. */
const shown = (s: string) =>
  `"${s}"`.replace(/[\u200d\ufe0e\ufe0f]/g, (c) => `\\u${c.codePointAt(0)!.toString(16)}`);

console.log(`text: ${JSON.stringify(text)}`);
console.log(`UTF-8: ${hex(new TextEncoder().encode(text))}\n`);
console.log("id      bytes          alone      Utf8Stream  pending  EmojiAnnotator");
const stream = new Utf8Stream(), annotator = new EmojiAnnotator();
let printed = "";
for (const id of tokenizer.encode(text, { bos: false })) {
  const bytes = tokenizer.tokenBytes(id);
  const alone = new TextDecoder().decode(bytes); // what a per-token decode would print
  const piece = stream.push(bytes);
  const annotated = annotator.push(piece);
  printed += annotated;
  console.log(
    `${String(id).padEnd(7)} ${hex(bytes).padEnd(14)} ${shown(alone).padEnd(10)} ` +
      `${shown(piece).padEnd(11)} ${String(stream.pending).padEnd(8)} ${shown(annotated)}`,
  );
}
printed += annotator.flush();
console.log(`\nprinted: ${printed}`);
