/**
 * Chapter 6's worked example, on the real Llama 3 `tokenizer.model` (the demo model's copy):
 * the file's lines, the pre-tokenizer's pieces, the byte-pair merges of one piece step by step
 * (lowest rank first), and a text where JavaScript's regex `\s` and Rust's disagree.
 *
 * ```sh
 * LLAMA_MODEL=~/.cache/llama-bolts/demo-tiny \
 *   deno run --allow-read --allow-env --allow-ffi docs/examples/06_bpe_merges.ts
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { LLAMA3_SPLIT_PATTERN } from "../../lib/tokenizer/hf_tokenizer.ts";
import { pretokenize } from "../../lib/tokenizer/pretokenize.ts";
import { parseTokenizerModel, Tokenizer } from "../../lib/tokenizer/tokenizer.ts";

const dir = Deno.env.get("LLAMA_MODEL");
if (!dir) {
  console.error("set LLAMA_MODEL to a model folder, e.g. ~/.cache/llama-bolts/demo-tiny");
  Deno.exit(2);
}
const path = join(dir, "tokenizer.model");
const file = Deno.readFileSync(path);
const ranks = parseTokenizerModel(file, path);
const tokenizer = Tokenizer.load(path);
const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const show = (bytes: Uint8Array) => JSON.stringify(new TextDecoder().decode(bytes));

// 1. The file: one line per token, base64 of its bytes and its rank (= its id).
const lines = new TextDecoder().decode(file).split("\n");
console.log(`${path}: ${lines.filter(Boolean).length} lines, ${file.length} bytes`);
for (const rank of [0, 1, 220, 9906, 128000 - 1]) {
  console.log(
    `  line ${String(rank + 1).padStart(6)}: ${lines[rank].padEnd(20)} -> bytes ${
      show(ranks[rank])
    }`,
  );
}

// 2. Pre-tokenizer pieces: no token crosses them.
const text = "Tokenizing 12345 words, isn't it?\n\n";
console.log(`\npretokenize(${JSON.stringify(text)}):`);
console.log(`  ${pretokenize(text).map((p) => JSON.stringify(p)).join(" ")}`);

// 3. Byte-pair merges of one piece, as bytePairEncode does them: start from single bytes,
//    merge the adjacent pair whose bytes form the lowest-ranked token, until none does.
const byRank = new Map(ranks.map((bytes, rank) => [latin1(bytes), rank]));
const piece = " tokenizing";
let parts = [...new TextEncoder().encode(piece)].map((b) => String.fromCharCode(b));
console.log(`\nmerges of ${JSON.stringify(piece)} (${parts.length} bytes):`);
console.log(`  start          ${parts.map((p) => JSON.stringify(p)).join(" ")}`);
for (;;) {
  let best = -1, bestRank = Infinity;
  for (let k = 0; k + 1 < parts.length; k++) {
    const rank = byRank.get(parts[k] + parts[k + 1]) ?? Infinity;
    if (rank < bestRank) [best, bestRank] = [k, rank];
  }
  if (best < 0) break;
  parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
  console.log(
    `  rank ${String(bestRank).padStart(6)}    ${parts.map((p) => JSON.stringify(p)).join(" ")}`,
  );
}
const ids = parts.map((p) => byRank.get(p)!);
console.log(
  `  tokens ${JSON.stringify(ids)}; Tokenizer.encode says ${
    JSON.stringify(tokenizer.encode(piece))
  }`,
);

// 4. Where JavaScript's regex semantics differ from Rust's: `\s`. Rust's is Unicode
//    White_Space (includes U+0085 NEXT LINE); JavaScript's lacks U+0085 and adds U+FEFF.
const tricky = "one\u0085\u0085two\uFEFF\uFEFFthree";
const jsRegex = new RegExp(
  LLAMA3_SPLIT_PATTERN.replace(
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]",
  ),
  "gu",
);
const escape = (s: string) =>
  JSON.stringify(s).replace(/\u0085/g, "\\u0085").replace(/\uFEFF/g, "\\uFEFF");
console.log(`\nthe text ${escape(tricky)}:`);
console.log(
  `  Meta's pattern as a JavaScript RegExp: ${tricky.match(jsRegex)!.map(escape).join(" ")}`,
);
console.log(
  `  pretokenize (Rust's semantics):        ${pretokenize(tricky).map(escape).join(" ")}`,
);
console.log(`  token ids: ${JSON.stringify(tokenizer.encode(tricky))}`);
