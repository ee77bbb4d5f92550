/**
 * The Hugging Face loader's checks on folders made from the fixtures: what is missing, what
 * disagrees with `config.json`, and the tied/untied rule for `lm_head.weight`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CheckpointError, ConfigError } from "../lib/errors.ts";
import { readSafetensors } from "../lib/formats/safetensors.ts";
import { encodeSafetensors } from "../lib/formats/safetensors_writer.ts";
import { tensorFloats } from "../lib/model/checkpoint.ts";
import { isHuggingFaceFolder, loadHuggingFaceCheckpoint } from "../lib/model/hf_checkpoint.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/hf/", import.meta.url));

/** A temporary copy of a fixture's hf/ folder. */
async function copyOf(name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "hf-checkpoint-" });
  const from = join(FIXTURES, name, "hf");
  for (const entry of Deno.readDirSync(from)) {
    await Deno.copyFile(join(from, entry.name), join(dir, entry.name));
  }
  return dir;
}

async function editConfig(dir: string, edit: (config: Record<string, unknown>) => void) {
  const config = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
  edit(config);
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config));
}

/** Rewrites model.safetensors with `edit` applied to its entries. */
async function editWeights(
  dir: string,
  edit: (entries: Array<Parameters<typeof encodeSafetensors>[0][number]>) => void,
) {
  const path = join(dir, "model.safetensors");
  const bytes = await Deno.readFile(path);
  const entries = [...readSafetensors(bytes, path).tensors.values()].map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength),
  }));
  edit(entries);
  await Deno.writeFile(path, encodeSafetensors(entries));
}

function assertLoadError(dir: string, type: typeof CheckpointError, pattern: RegExp, file: string) {
  assert.throws(() => loadHuggingFaceCheckpoint(dir), (e: unknown) => {
    assert.ok(e instanceof type, String(e));
    assert.match(e.message, pattern);
    assert.equal(e.path, join(dir, file));
    assert.ok(e.fix);
    return true;
  });
}

Deno.test("hf checkpoint: a copied (not mapped) folder reads the same values", () => {
  const dir = join(FIXTURES, "scaling32_f32", "hf");
  assert.ok(isHuggingFaceFolder(dir));
  assert.ok(!isHuggingFaceFolder(join(FIXTURES, "tied", "meta")));
  using mapped = loadHuggingFaceCheckpoint(dir);
  using copied = loadHuggingFaceCheckpoint(dir, { preferMmap: false });
  assert.equal(copied.weights.mapped, false);
  for (const name of mapped.tensors.keys()) {
    assert.deepEqual(tensorFloats(copied, name), tensorFloats(mapped, name), name);
  }
});

Deno.test("hf checkpoint: a missing config.json or weights file is named", async () => {
  const dir = await copyOf("tied");
  await Deno.remove(join(dir, "model.safetensors"));
  assertLoadError(
    dir,
    CheckpointError,
    /expected model\.safetensors or model\.safetensors\.index\.json/,
    "",
  );
  await Deno.remove(join(dir, "config.json"));
  assertLoadError(
    dir,
    ConfigError,
    /expected config\.json in the model folder, found none/,
    "config.json",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hf checkpoint: config.json disagreeing with the tensors", async () => {
  const dir = await copyOf("tied");
  await editConfig(dir, (c) => c.num_hidden_layers = 3);
  assertLoadError(
    dir,
    ConfigError,
    /config\.json disagrees with the tensors: expected 3 layers \("num_hidden_layers"\), found tensors of 2: no tensor "model\.layers\.2\.self_attn\.q_proj\.weight"/,
    "config.json",
  );
  await editConfig(dir, (c) => {
    c.num_hidden_layers = 2;
    c.vocab_size = 300;
  });
  assertLoadError(
    dir,
    ConfigError,
    /expected "model\.embed_tokens\.weight" to have shape \[300, 32\], found \[256, 32\]/,
    "config.json",
  );
  await editConfig(dir, (c) => {
    c.vocab_size = 256;
    c.tie_word_embeddings = false;
  });
  assertLoadError(
    dir,
    ConfigError,
    /"tie_word_embeddings" is false, but there is no lm_head\.weight/,
    "config.json",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hf checkpoint: tied embeddings ignore a stray lm_head.weight", async () => {
  const dir = await copyOf("tied");
  await editWeights(dir, (entries) => {
    const embed = entries.find((e) => e.name === "model.embed_tokens.weight")!;
    entries.push({ ...embed, name: "lm_head.weight", data: new Uint8Array(embed.data.length) });
  });
  using checkpoint = loadHuggingFaceCheckpoint(dir);
  assert.equal(checkpoint.tiedEmbeddings, true);
  assert.ok(!checkpoint.tensors.has("output.weight"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hf checkpoint: an unsupported dtype and unknown extra tensors", async () => {
  const dir = await copyOf("tied");
  await editWeights(dir, (entries) => {
    entries.push({
      name: "model.layers.0.self_attn.rotary_emb.inv_freq",
      dtype: "F32",
      shape: [8],
      data: new Uint8Array(32),
    });
  });
  {
    using checkpoint = loadHuggingFaceCheckpoint(dir);
    const extra = checkpoint.tensor("model.layers.0.self_attn.rotary_emb.inv_freq");
    assert.equal(extra.sourceName, extra.name); // kept under its own name, unused
  }
  const path = join(dir, "model.safetensors");
  const bytes = await Deno.readFile(path);
  const text = new TextDecoder().decode(bytes);
  // Same length, another dtype name: F32 → I32 for the extra tensor.
  const patched = text.replace(
    /("model\.layers\.0\.self_attn\.rotary_emb\.inv_freq":\{"dtype":")F32/,
    "$1I32",
  );
  await Deno.writeFile(path, new TextEncoder().encode(patched));
  assertLoadError(dir, CheckpointError, /has dtype "I32" \(not supported\)/, "model.safetensors");
  await Deno.remove(dir, { recursive: true });
});
