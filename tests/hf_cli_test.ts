/**
 * The `llama` program on Hugging Face folders (real Llama 3 `tokenizer.json`, random weights),
 * single-file and sharded, tied and untied: `complete` must give the same tokens, and logits
 * within 1e-5, as the Meta folder the weights came from; `info`, `chat` and the menu run on
 * them; a broken folder is one clear error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { openModelTokenizer } from "../lib/cli/model_files.ts";
import { readGguf } from "../lib/formats/gguf.ts";
import { PRESETS, writeSyntheticModel } from "../lib/model/synthetic.ts";
import { randomModelDir, runLlama, type RunResult } from "./helpers/cli_model.ts";
import { hfFolderFromMeta } from "./helpers/hf_model.ts";
import { tokenizerPath } from "./helpers/llama3_tokenizer.ts";

const ONE = ["--threads", "1"];

let folders:
  | Promise<{ tiedMeta: string; untiedMeta: string; single: string; sharded: string }>
  | undefined;
/** Meta folders (tiny preset, tied and untied) and Hugging Face folders of the same weights. */
function models() {
  return folders ??= (async () => {
    const root = await Deno.makeTempDir({ prefix: "llama-bolts-hf-cli-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
    const tiedMeta = await randomModelDir();
    const untiedMeta = join(root, "untied-meta");
    await writeSyntheticModel(untiedMeta, PRESETS.tiny.params, {
      seed: 2,
      dtype: "bf16",
      tied: false,
      tokenizerPath: await tokenizerPath(),
    });
    return {
      tiedMeta,
      untiedMeta,
      single: await hfFolderFromMeta(tiedMeta, join(root, "single-tied")),
      sharded: await hfFolderFromMeta(untiedMeta, join(root, "sharded-untied"), { shards: 3 }),
    };
  })();
}

function assertNoStackTrace(result: RunResult): void {
  assert.doesNotMatch(result.stderr, /^\s+at .*:\d+:\d+/m, result.stderr);
  assert.doesNotMatch(result.stderr, /Uncaught|Stack backtrace/, result.stderr);
}

function floats(path: string): Float32Array {
  const bytes = Deno.readFileSync(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

Deno.test("hf cli: complete on a Hugging Face folder gives the Meta folder's tokens and logits", async () => {
  const m = await models();
  const out = await Deno.makeTempDir();
  const prompt = "Hello, my name is";
  const run = (model: string, logits: string) =>
    runLlama([
      "complete",
      "--model",
      model,
      ...ONE,
      "--max-tokens",
      "8",
      "--json",
      "--logits-out",
      join(out, logits),
      prompt,
    ]);
  const pairs = [[m.tiedMeta, m.single], [m.untiedMeta, m.sharded]];
  const results = await Promise.all(
    pairs.flatMap(([meta, hf], i) => [run(meta, `meta${i}.f32`), run(hf, `hf${i}.f32`)]),
  );
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  for (let i = 0; i < pairs.length; i++) {
    const meta = JSON.parse(results[2 * i].stdout), hf = JSON.parse(results[2 * i + 1].stdout);
    assert.deepEqual(hf.prompt_tokens, meta.prompt_tokens);
    assert.deepEqual(hf.tokens, meta.tokens);
    assert.equal(hf.tokens.length, 8);
    const a = floats(join(out, `meta${i}.f32`)), b = floats(join(out, `hf${i}.f32`));
    assert.equal(a.length, 8 * 128256);
    let worst = 0;
    for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]));
    assert.ok(worst <= 1e-5, `pair ${i}: logits ${worst} apart`);
  }
  await Deno.remove(out, { recursive: true });
});

Deno.test("hf cli: info shows config.json, every shard and each tensor's name in the file", async () => {
  const { sharded, single } = await models();
  const [text, json, byFile] = await Promise.all([
    runLlama(["info", "--model", sharded]),
    runLlama(["info", "--model", sharded, "--json"]),
    runLlama(["info", "--model", join(single, "model.safetensors")]),
  ]);
  for (const r of [text, json, byFile]) assert.equal(r.code, 0, r.stderr);
  assert.match(text.stdout, /^hyperparameters \(config\.json\):$/m);
  assert.match(text.stdout, /^ {2}intermediate_size\s+256$/m);
  assert.equal(
    text.stdout.match(/^ {2}weights: .*model-0000\d-of-00003\.safetensors/gm)?.length,
    3,
  );
  assert.match(text.stdout, /rotate_half/);
  assert.match(
    text.stdout,
    /tok_embeddings\.weight\s+bf16\s+\[128256, 64\]\s+model\.embed_tokens\.weight/,
  );
  assert.match(text.stdout, /output\.weight\s+bf16\s+\[128256, 64\]\s+lm_head\.weight/);
  const info = JSON.parse(json.stdout);
  assert.equal(info.params.tie_word_embeddings, false);
  assert.equal(info.tensors.length, 2 * 9 + 3);
  assert.deepEqual(info.tensors[1], {
    name: "layers.0.attention.wq.weight",
    dtype: "bf16",
    shape: [64, 64],
    source_name: "model.layers.0.self_attn.q_proj.weight",
  });
  assert.match(byFile.stdout, /tied_embeddings\s+yes/);
  assert.doesNotMatch(byFile.stdout, /lm_head/);
});

Deno.test("hf cli: chat and the menu run on Hugging Face folders", async () => {
  const { sharded, single } = await models();
  const [chat, menu] = await Promise.all([
    runLlama(["chat", "--model", sharded, ...ONE, "--max-tokens", "3"], {
      stdin: "Hello there\nAnd again\n/exit\n",
    }),
    runLlama(["--model", single, ...ONE, "--max-tokens", "3"], { stdin: "0\n1\n" }),
  ]);
  for (const r of [chat, menu]) {
    assert.equal(r.code, 0, r.stderr);
    assertNoStackTrace(r);
  }
  assert.equal(chat.stderr.match(/^\[\d+ prompt tokens, \d+ generated/gm)?.length, 2, chat.stderr);
  assert.match(menu.stdout, /hyperparameters \(config\.json\)/);
  assert.match(menu.stdout, /\nHello, my name is/);
});

Deno.test("hf cli: stop ids come from generation_config.json", async () => {
  const { untiedMeta, sharded } = await models();
  assert.deepEqual(openModelTokenizer(sharded).stopTokens, [128001, 128008, 128009]);
  assert.equal(openModelTokenizer(untiedMeta).stopTokens, undefined); // Meta's defaults
  const dir = await Deno.makeTempDir();
  await hfFolderFromMeta(untiedMeta, dir, { eosTokenIds: [128009] });
  assert.deepEqual(openModelTokenizer(dir).stopTokens, [128009]);
  await Deno.remove(join(dir, "generation_config.json"));
  assert.deepEqual(openModelTokenizer(dir).stopTokens, [128009]); // config.json's eos_token_id
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hf cli: a missing shard and a config.json that disagrees are one clear error", async () => {
  const { sharded } = await models();
  const broken = await Deno.makeTempDir();
  for (const entry of Deno.readDirSync(sharded)) {
    if (entry.name !== "model-00002-of-00003.safetensors") {
      await Deno.copyFile(join(sharded, entry.name), join(broken, entry.name));
    }
  }
  const missing = await runLlama(["info", "--model", broken]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^error: expected shard model-00002-of-00003\.safetensors \(listed/m,
  );
  assert.match(missing.stderr, /^ {2}fix: download all 3 shards/m);
  assertNoStackTrace(missing);

  await Deno.copyFile(
    join(sharded, "model-00002-of-00003.safetensors"),
    join(broken, "model-00002-of-00003.safetensors"),
  );
  const config = JSON.parse(await Deno.readTextFile(join(broken, "config.json")));
  await Deno.writeTextFile(
    join(broken, "config.json"),
    JSON.stringify({ ...config, intermediate_size: 128 }),
  );
  const disagree = await runLlama(["complete", "--model", broken, "Hi"]);
  assert.equal(disagree.code, 1);
  assert.match(
    disagree.stderr,
    /config\.json disagrees with the tensors: expected "model\.layers\.0\.mlp\.gate_proj\.weight" to have shape \[128, 64\], found \[256, 64\]/,
  );
  assertNoStackTrace(disagree);
  await Deno.remove(broken, { recursive: true });
});

Deno.test("hf cli: convert puts a Hugging Face folder's q and k rows back in Meta's order", async () => {
  const { untiedMeta, sharded } = await models();
  const dir = await Deno.makeTempDir({ prefix: "llama-bolts-hf-convert-" });
  try {
    const [fromMeta, fromHf] = [join(dir, "meta.gguf"), join(dir, "hf.gguf")];
    // Two threads, so that the rows of each chunk are encoded by both.
    const runs = await Promise.all([
      runLlama(["convert", "--model", untiedMeta, "--out", fromMeta, "--type", "q8_0"]),
      runLlama([
        "convert",
        "--model",
        sharded,
        "--out",
        fromHf,
        "--type",
        "q8_0",
        "--threads",
        "2",
      ]),
    ]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const [a, b] = [fromMeta, fromHf].map((path) => {
      const bytes = Deno.readFileSync(path);
      return { bytes, file: readGguf(bytes, path) };
    });
    assert.deepEqual([...b.file.tensors.keys()].sort(), [...a.file.tensors.keys()].sort());
    for (const [name, t] of a.file.tensors) {
      const u = b.file.tensors.get(name)!;
      assert.deepEqual(
        b.bytes.subarray(u.byteOffset, u.byteOffset + u.byteLength),
        a.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength),
        name,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
