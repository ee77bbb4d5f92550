/**
 * `convert`, and the commands on `.gguf` files: a random tiny model with the real tokenizer
 * is converted to BF16 (exact for its bf16 weights) and must then complete with the Meta
 * folder's tokens and logits; `chat`, the menu and `info` run on the file; bad usage and files
 * the engine cannot run give one clear message each.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readGguf } from "../lib/formats/gguf.ts";
import { ggmlType } from "../lib/formats/gguf_types.ts";
import { gguf, writeGgufFile } from "../lib/formats/gguf_writer.ts";
import { pathExists } from "../lib/files.ts";
import { randomModelDir, runLlama, type RunResult } from "./helpers/cli_model.ts";

const ONE = ["--threads", "1", "--no-color"];
/** Generous: converting writes a 128256-token vocabulary, slow on a busy machine. */
const SLOW = { timeoutMs: 120_000 };

let converted: Promise<{ dir: string; meta: string; bf16: string; f16: string }> | undefined;
/** The tiny random model and its BF16 and F16 GGUF files, converted by the CLI once. */
function files() {
  return converted ??= (async () => {
    const meta = await randomModelDir();
    const dir = await Deno.makeTempDir({ prefix: "llama-bolts-gguf-cli-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const bf16 = join(dir, "tiny-bf16.gguf"), f16 = join(dir, "tiny-f16.gguf");
    const results = await Promise.all([
      runLlama(["convert", "--model", meta, "--out", bf16, "--type", "bf16"], SLOW),
      runLlama(["convert", "--model", meta, "--out", f16], SLOW),
    ]);
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /wrote .*\.gguf \([\d.]+ MB, \d+ tensors\)/);
    }
    return { dir, meta, bf16, f16 };
  })();
}

function assertOneLine(result: RunResult, pattern: RegExp): void {
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /^\s+at .*:\d+:\d+/m, result.stderr);
}

function floats(path: string): Float32Array {
  const bytes = Deno.readFileSync(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

Deno.test("gguf cli: complete on the converted BF16 file gives the Meta folder's tokens and logits", async () => {
  const { dir, meta, bf16, f16 } = await files();
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
      join(dir, logits),
      "Hello, my name is",
    ], SLOW);
  const [a, b, c] = await Promise.all([
    run(meta, "meta.f32"),
    run(bf16, "bf16.f32"),
    run(f16, "f16.f32"),
  ]);
  for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr);
  const fromMeta = JSON.parse(a.stdout), fromGguf = JSON.parse(b.stdout);
  assert.deepEqual(fromGguf.prompt_tokens, fromMeta.prompt_tokens); // the GGUF tokenizer
  assert.deepEqual(fromGguf.tokens, fromMeta.tokens);
  assert.equal(JSON.parse(c.stdout).tokens.length, 8);
  const x = floats(join(dir, "meta.f32")), y = floats(join(dir, "bf16.f32"));
  assert.equal(x.length, 8 * 128256);
  let worst = 0;
  for (let k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(x[k] - y[k]));
  assert.ok(worst <= 1e-5, `logits ${worst} apart`);
});

Deno.test("gguf cli: chat, the menu and info run on a GGUF file", async () => {
  const { f16 } = await files();
  const [chat, menu, info, json] = await Promise.all([
    runLlama(["chat", "--model", f16, ...ONE, "--max-tokens", "3"], {
      stdin: "Hello there\n/exit\n",
      ...SLOW,
    }),
    runLlama(["--model", f16, ...ONE, "--max-tokens", "3"], { stdin: "0\n1\n", ...SLOW }),
    runLlama(["info", "--model", f16], SLOW),
    runLlama(["info", "--model", f16, "--json"], SLOW),
  ]);
  for (const r of [chat, menu, info, json]) assert.equal(r.code, 0, r.stderr);
  assert.match(info.stdout, /^ {2}general\.architecture\s+"llama"$/m);
  assert.match(info.stdout, /tokenizer\.ggml\.tokens\s+\[string × 128256\] "!"/);
  assert.match(
    info.stdout,
    /blk\.0\.attn_q\.weight\s+F16\s+\[64, 64\]\s+16\.00 bpw\s+8\.00 KiB\s+layers\.0\.attention\.wq\.weight/,
  );
  assert.match(info.stdout, /output_norm\.weight\s+F32\s+\[64\]\s+32\.00 bpw/);
  assert.match(info.stdout, /bits per weight$/m);
  const described = JSON.parse(json.stdout);
  assert.equal(described.metadata["llama.embedding_length"], 64);
  assert.equal(described.metadata["tokenizer.ggml.merges"].length, 280147);
  assert.deepEqual(described.tensors.slice(0, 2).map((t: { name: string }) => t.name), [
    "rope_freqs.weight",
    "token_embd.weight",
  ]);
});

Deno.test("gguf cli: convert takes a GGUF file too, to another type", async () => {
  const { dir, meta, bf16 } = await files();
  const [fromMeta, fromGguf] = [join(dir, "meta-q8_0.gguf"), join(dir, "bf16-q8_0.gguf")];
  const runs = await Promise.all([
    runLlama(["convert", "--model", meta, "--out", fromMeta, "--type", "q8_0"], SLOW),
    runLlama(["convert", "--model", bf16, "--out", fromGguf, "--type", "q8_0"], SLOW),
  ]);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  // The BF16 file holds the Meta folder's weights exactly, so Q8_0 gives the same blocks.
  const [a, b] = [fromMeta, fromGguf].map((path) => {
    const bytes = Deno.readFileSync(path);
    return { bytes, file: readGguf(bytes, path) };
  });
  assert.equal(b.file.tensors.size, a.file.tensors.size);
  for (const [name, t] of a.file.tensors) {
    const u = b.file.tensors.get(name);
    assert.ok(u, name);
    assert.equal(u.type.name, t.type.name, name);
    assert.deepEqual(
      b.bytes.subarray(u.byteOffset, u.byteOffset + u.byteLength),
      a.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength),
      name,
    );
  }
});

Deno.test("gguf cli: convert refuses bad usage in one line", async () => {
  const { dir, meta, f16 } = await files();
  const [badType, exists, noOut, badThreads] = await Promise.all([
    runLlama(["convert", "--model", meta, "--out", join(dir, "x.gguf"), "--type", "q3_k"]),
    runLlama(["convert", "--model", meta, "--out", f16]),
    runLlama(["convert", "--model", meta]),
    runLlama(["convert", "--model", meta, "--out", join(dir, "y.gguf"), "--threads", "0"]),
  ]);
  assertOneLine(badType, /--type: expected f16, bf16, f32, q8_0, q4_0, q4_k_m, q5_k_m, got 'q3_k'/);
  assertOneLine(exists, /already exists; pass --force to replace it/);
  assertOneLine(noOut, /--out FILE\.gguf is required/);
  assertOneLine(badThreads, /--threads/);
  assert.equal(badType.code, 2);
  assert.equal(badThreads.code, 2);
  assert.ok(!pathExists(join(dir, "y.gguf")));
});

Deno.test("gguf cli: other architectures, unsupported tensor types and chat templates are named", async () => {
  const { dir } = await files();
  const qwen = join(dir, "qwen.gguf"), quant = join(dir, "q2k.gguf");
  await writeGgufFile(qwen, [["general.architecture", gguf.string("qwen2")]], []);
  await writeGgufFile(quant, [["general.architecture", gguf.string("llama")]], [{
    name: "token_embd.weight",
    type: ggmlType("Q2_K"),
    shape: [4, 256],
    chunks: () => [new Uint8Array(4 * 84)],
  }]);
  const [a, b, c] = await Promise.all([
    runLlama(["complete", "--model", qwen, ...ONE, "Hi"]),
    runLlama(["complete", "--model", quant, ...ONE, "Hi"]),
    runLlama(["info", "--model", quant]),
  ]);
  assertOneLine(a, /qwen2 models are not supported \(general\.architecture = "qwen2"\)/);
  assertOneLine(b, /tensor type Q2_K is not supported yet \(tensor "token_embd\.weight"\)/);
  assert.equal(c.code, 0, c.stderr);
  assert.match(
    c.stdout,
    /token_embd\.weight\s+Q2_K \(not supported yet\)\s+\[4, 256\]\s+2\.63 bpw/,
  );
});
