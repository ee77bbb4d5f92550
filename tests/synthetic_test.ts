/**
 * Tests of the random-weight model writer and `make-model`: presets against
 * the params.json Meta publishes and the parameter counts of the real models,
 * written folders loaded back with our checkpoint loader, weight statistics,
 * determinism, and the command's flags and exit codes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError } from "../lib/errors.ts";
import { runMakeModel } from "../lib/cli/make_model.ts";
import { loadCheckpoint, tensorFloats } from "../lib/model/checkpoint.ts";
import { PRESETS, syntheticTensors, writeSyntheticModel } from "../lib/model/synthetic.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "synthetic_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Element values as float32, decoded here (bf16: the high half of an f32). */

function meanStd(v: Float32Array): { mean: number; std: number } {
  let sum = 0;
  let sq = 0;
  for (const x of v) {
    sum += x;
    sq += x * x;
  }
  const mean = sum / v.length;
  return { mean, std: Math.sqrt(sq / v.length - mean * mean) };
}

async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("presets are the params.json Meta publishes", () => {
  // Llama 3.2 1B `original/params.json` (keys sorted as Meta writes them).
  assert.deepEqual({ ...PRESETS["1b"].params }, {
    dim: 2048,
    ffn_dim_multiplier: 1.5,
    multiple_of: 256,
    n_heads: 32,
    n_kv_heads: 8,
    n_layers: 16,
    norm_eps: 1e-05,
    rope_theta: 500000.0,
    use_scaled_rope: true,
    vocab_size: 128256,
  });
  assert.equal(PRESETS["1b"].tied, true);
  // Llama 3.1 8B `original/params.json`.
  assert.deepEqual({ ...PRESETS["8b"].params }, {
    dim: 4096,
    n_layers: 32,
    n_heads: 32,
    n_kv_heads: 8,
    vocab_size: 128256,
    ffn_dim_multiplier: 1.3,
    multiple_of: 1024,
    norm_eps: 1e-05,
    rope_theta: 500000.0,
    use_scaled_rope: true,
  });
  assert.equal(PRESETS["8b"].tied, false);
  assert.equal(PRESETS.tiny.params.vocab_size, 128256, "tiny keeps the real vocabulary");
});

Deno.test("preset tensors add up to the real models' parameter counts", () => {
  const count = (preset: "1b" | "8b") => {
    const tensors = syntheticTensors(PRESETS[preset].params, PRESETS[preset].tied, "bf16");
    return {
      tensors: tensors.length,
      parameters: tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0),
      ffn: tensors.find((t) => t.name === "layers.0.feed_forward.w1.weight")!.shape,
      hasOutput: tensors.some((t) => t.name === "output.weight"),
    };
  };
  // Published sizes: Llama 3.2 1B has 1,235,814,400 parameters, Llama 3.1 8B 8,030,261,248.
  assert.deepEqual(count("1b"), {
    tensors: 2 + 16 * 9,
    parameters: 1_235_814_400,
    ffn: [8192, 2048],
    hasOutput: false,
  });
  assert.deepEqual(count("8b"), {
    tensors: 3 + 32 * 9,
    parameters: 8_030_261_248,
    ffn: [14336, 4096],
    hasOutput: true,
  });
});

Deno.test("the tiny model loads with our checkpoint loader, in Meta's layout", async () => {
  await withTempDir(async (dir) => {
    const preset = PRESETS.tiny;
    const result = await writeSyntheticModel(dir, preset.params, {
      seed: 3,
      dtype: "bf16",
      tied: preset.tied,
    });
    assert.equal(result.tensorCount, 2 + 2 * 9);
    assert.ok(result.fileBytes > 16e6 && result.fileBytes < 18e6, `${result.fileBytes} bytes`);
    using ck = loadCheckpoint(dir);
    assert.equal(ck.config.dim, 64);
    assert.equal(ck.config.vocabSize, 128256);
    assert.equal(ck.tiedEmbeddings, true);
    // Meta's names in Meta's order (the pickled dict's order).
    const names = [...ck.tensors.keys()];
    assert.deepEqual(names.slice(0, 4), [
      "tok_embeddings.weight",
      "layers.0.attention.wq.weight",
      "layers.0.attention.wk.weight",
      "layers.0.attention.wv.weight",
    ]);
    assert.equal(names.at(-1), "norm.weight");
    // Weights ~ N(0, 1/fan_in), norms ~ 1.
    for (const t of ck.tensors.values()) {
      assert.equal(t.type, "bf16");
      assert.equal(t.byteOffset % 64, 0);
      const { mean, std } = meanStd(tensorFloats(ck, t.name));
      if (t.shape.length === 1) {
        assert.ok(Math.abs(mean - 1) < 0.02, `${t.name} mean ${mean}`);
        assert.ok(std > 0.03 && std < 0.07, `${t.name} std ${std}`);
      } else {
        const expected = 1 / Math.sqrt(t.shape[1]);
        assert.ok(Math.abs(mean) < 0.1 * expected, `${t.name} mean ${mean}`);
        assert.ok(Math.abs(std / expected - 1) < 0.06, `${t.name} std ${std} vs ${expected}`);
      }
    }
    // Different tensors get different draws.
    const wk = tensorFloats(ck, "layers.0.attention.wk.weight");
    const wv = tensorFloats(ck, "layers.0.attention.wv.weight");
    assert.notDeepEqual(wk.slice(0, 16), wv.slice(0, 16));
    const params = JSON.parse(await Deno.readTextFile(join(dir, "params.json")));
    assert.deepEqual(params, { ...preset.params });
  });
});

Deno.test("the same seed writes the same bytes, whatever the chunk size", async () => {
  await withTempDir(async (dir) => {
    const params = { ...PRESETS.tiny.params, vocab_size: 1000 };
    const write = async (name: string, seed: number, chunkBytes?: number) => {
      await writeSyntheticModel(join(dir, name), params, { seed, dtype: "bf16", chunkBytes });
      return await sha256File(join(dir, name, "consolidated.00.pth"));
    };
    const a = await write("a", 11);
    assert.equal(await write("b", 11, 1000), a);
    assert.notEqual(await write("c", 12), a);
  });
});

Deno.test("f16 and f32 models load and have the intended scale", async () => {
  await withTempDir(async (dir) => {
    const params = { ...PRESETS.tiny.params, vocab_size: 2000 };
    for (const dtype of ["f16", "f32"] as const) {
      const out = join(dir, dtype);
      await writeSyntheticModel(out, params, { seed: 1, dtype });
      using ck = loadCheckpoint(out);
      assert.equal(ck.tiedEmbeddings, false);
      const w = ck.tensor("layers.1.feed_forward.w2.weight"); // [64, 256]: std 1/16
      assert.equal(w.type, dtype);
      const { mean, std } = meanStd(tensorFloats(ck, w.name));
      assert.ok(Math.abs(mean) < 0.005, `${dtype} mean ${mean}`);
      assert.ok(Math.abs(std - 1 / 16) < 0.003, `${dtype} std ${std}`);
      assert.ok(meanStd(tensorFloats(ck, "norm.weight")).mean > 0.98);
    }
  });
});

Deno.test("writeSyntheticModel refuses to overwrite and places the tokenizer", async () => {
  await withTempDir(async (dir) => {
    const params = { ...PRESETS.tiny.params, vocab_size: 300 };
    const tokenizer = join(dir, "source.model");
    await Deno.writeTextFile(tokenizer, "IQ== 0\n");
    const out = join(dir, "model");
    await writeSyntheticModel(out, params, { seed: 1, dtype: "bf16", tokenizerPath: tokenizer });
    assert.equal(await Deno.readTextFile(join(out, "tokenizer.model")), "IQ== 0\n");
    await assert.rejects(
      writeSyntheticModel(out, params, { seed: 1, dtype: "bf16" }),
      CheckpointError,
    );
    await writeSyntheticModel(out, params, {
      seed: 2,
      dtype: "bf16",
      overwrite: true,
      tokenizerPath: join(out, "tokenizer.model"), // already in place: kept
    });
    assert.equal(await Deno.readTextFile(join(out, "tokenizer.model")), "IQ== 0\n");
    await assert.rejects(
      writeSyntheticModel(join(dir, "other"), params, {
        seed: 1,
        dtype: "bf16",
        tokenizerPath: join(dir, "missing.model"),
      }),
      /expected a tokenizer.model file/,
    );
    // Nothing was written for the failed call.
    await assert.rejects(
      Deno.stat(join(dir, "other", "consolidated.00.pth")),
      Deno.errors.NotFound,
    );
  });
});

Deno.test("make-model: flags, exit codes and the written folder", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "tiny");
    assert.equal(await runMakeModel(["--help"]), 0);
    assert.equal(await runMakeModel(["--preset", "2b", "--out", out]), 2);
    assert.equal(await runMakeModel(["--preset", "tiny"]), 2);
    assert.equal(await runMakeModel(["--preset", "tiny", "--out", out, "--dtype", "f64"]), 2);
    assert.equal(await runMakeModel(["--preset", "tiny", "--out", out, "--seed", "x"]), 2);
    assert.equal(await runMakeModel(["--preset", "tiny", "--out", out, "--bogus"]), 2);
    assert.equal(await runMakeModel(["--preset", "tiny", "--out", out, "extra"]), 2);
    assert.equal(
      await runMakeModel(["--preset", "tiny", "--out", out, "--tokenizer", join(dir, "none")]),
      2,
    );
    assert.equal(await runMakeModel(["--preset", "tiny", "--out", out, "--seed", "5"]), 0);
    using ck = loadCheckpoint(out);
    assert.equal(ck.tensors.size, 20);
    assert.equal(await runMakeModel(["--preset", "tiny", "--out", out]), 2, "refuses to overwrite");
    assert.equal(await runMakeModel(["--preset", "tiny", "--out", out, "--force"]), 0);
  });
});
