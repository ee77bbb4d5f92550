/**
 * `params.json` parsing against Meta's published files: the feed-forward sizes must equal the
 * `intermediate_size` Meta publishes for the same models (Hugging Face `config.json`), and the
 * tiny fixture's must equal what the Python port of Meta's formula computed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../lib/errors.ts";
import { feedForwardHiddenDim, parseModelConfig } from "../lib/model/config.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/pth/", import.meta.url));

/** params.json as Meta ships it, and the sizes Meta publishes for that model. */
const META_MODELS: Array<{
  name: string;
  params: Record<string, unknown>;
  hidden: number;
  headDim: number;
  kvDim: number;
  maxContext: number;
}> = [
  {
    name: "Llama 3.1 8B",
    params: {
      dim: 4096,
      ffn_dim_multiplier: 1.3,
      multiple_of: 1024,
      n_heads: 32,
      n_kv_heads: 8,
      n_layers: 32,
      norm_eps: 1e-05,
      rope_theta: 500000.0,
      use_scaled_rope: true,
      vocab_size: 128256,
    },
    hidden: 14336,
    headDim: 128,
    kvDim: 1024,
    maxContext: 131072,
  },
  {
    name: "Llama 3.2 1B",
    params: {
      dim: 2048,
      n_layers: 16,
      n_heads: 32,
      n_kv_heads: 8,
      vocab_size: 128256,
      ffn_dim_multiplier: 1.5,
      multiple_of: 256,
      norm_eps: 1e-05,
      rope_theta: 500000.0,
      use_scaled_rope: true,
    },
    hidden: 8192,
    headDim: 64,
    kvDim: 512,
    maxContext: 131072,
  },
  {
    name: "Llama 3.2 3B",
    params: {
      dim: 3072,
      ffn_dim_multiplier: 1.0,
      multiple_of: 256,
      n_heads: 24,
      n_kv_heads: 8,
      n_layers: 28,
      norm_eps: 1e-05,
      rope_theta: 500000.0,
      use_scaled_rope: true,
      vocab_size: 128256,
    },
    hidden: 8192,
    headDim: 128,
    kvDim: 1024,
    maxContext: 131072,
  },
  {
    name: "Llama 3 8B (no use_scaled_rope)",
    params: {
      dim: 4096,
      n_layers: 32,
      n_heads: 32,
      n_kv_heads: 8,
      vocab_size: 128256,
      multiple_of: 1024,
      ffn_dim_multiplier: 1.3,
      norm_eps: 1e-05,
      rope_theta: 500000.0,
    },
    hidden: 14336,
    headDim: 128,
    kvDim: 1024,
    maxContext: 8192,
  },
  {
    name: "Llama 3.1 70B",
    params: {
      dim: 8192,
      ffn_dim_multiplier: 1.3,
      multiple_of: 4096,
      n_heads: 64,
      n_kv_heads: 8,
      n_layers: 80,
      norm_eps: 1e-05,
      rope_theta: 500000.0,
      use_scaled_rope: true,
      vocab_size: 128256,
    },
    hidden: 28672,
    headDim: 128,
    kvDim: 1024,
    maxContext: 131072,
  },
];

for (const model of META_MODELS) {
  Deno.test(`config: ${model.name} derives Meta's sizes`, () => {
    const config = parseModelConfig(JSON.stringify(model.params), "params.json");
    assert.equal(config.dim, model.params.dim);
    assert.equal(config.nLayers, model.params.n_layers);
    assert.equal(config.nHeads, model.params.n_heads);
    assert.equal(config.nKvHeads, model.params.n_kv_heads);
    assert.equal(config.vocabSize, 128256);
    assert.equal(config.multipleOf, model.params.multiple_of);
    assert.equal(config.ffnDimMultiplier, model.params.ffn_dim_multiplier);
    assert.equal(config.normEps, 1e-5);
    assert.equal(config.ropeTheta, 500000);
    assert.equal(config.useScaledRope, model.params.use_scaled_rope ?? false);
    assert.equal(config.hiddenDim, model.hidden);
    assert.equal(config.headDim, model.headDim);
    assert.equal(config.kvDim, model.kvDim);
    assert.equal(config.maxContext, model.maxContext);
    assert.deepEqual(config.params, model.params);
  });
}

Deno.test("config: the tiny fixture's sizes match the Python port of Meta's formula", () => {
  const expected = JSON.parse(Deno.readTextFileSync(join(FIXTURES, "expected.json")));
  for (const dir of ["tiny_tied", "tiny_untied"]) {
    const path = join(FIXTURES, dir, "params.json");
    const config = parseModelConfig(Deno.readTextFileSync(path), path);
    const derived = expected.models[dir].derived;
    assert.equal(config.hiddenDim, derived.hidden_dim);
    assert.equal(config.headDim, derived.head_dim);
    assert.equal(config.kvDim, derived.kv_dim);
    assert.equal(config.nHeads / config.nKvHeads, derived.n_rep);
  }
  // Without ffn_dim_multiplier: 4 * 4096 * 2 / 3 = 10922.67 -> 10922 -> next multiple of 256.
  assert.equal(feedForwardHiddenDim(4096, 256, null), 11008); // Llama 2 7B's published size
});

Deno.test("config: the config is frozen, params.json included", () => {
  const config = parseModelConfig(JSON.stringify(META_MODELS[0].params), "params.json");
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.params));
  assert.throws(() => {
    (config as { dim: number }).dim = 1;
  }, TypeError);
});

Deno.test("config: missing optional keys take Meta's ModelArgs defaults", () => {
  const config = parseModelConfig(
    JSON.stringify({ dim: 64, n_layers: 1, n_heads: 4, vocab_size: 10 }),
    "params.json",
  );
  assert.equal(config.nKvHeads, 4);
  assert.equal(config.multipleOf, 256);
  assert.equal(config.ffnDimMultiplier, null);
  assert.equal(config.normEps, 1e-5);
  assert.equal(config.ropeTheta, 500000);
  assert.equal(config.useScaledRope, false);
  assert.equal(config.maxContext, 8192);
});

function assertConfigError(json: string, pattern: RegExp) {
  const path = "/models/x/params.json";
  assert.throws(
    () => parseModelConfig(json, path),
    (e: unknown) => {
      if (!(e instanceof ConfigError)) return false;
      assert.match(e.message, pattern);
      assert.equal(e.path, path);
      assert.ok(e.message.includes(path));
      return true;
    },
  );
}

Deno.test("config: each required key, when missing, is named", () => {
  for (const key of ["dim", "n_layers", "n_heads", "vocab_size"]) {
    const params: Record<string, unknown> = { ...META_MODELS[0].params };
    delete params[key];
    assertConfigError(
      JSON.stringify(params),
      new RegExp(`expected "${key}" to be a positive integer, found no such key`),
    );
  }
});

Deno.test("config: invalid values are named with what was found", () => {
  const base = META_MODELS[0].params;
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...base, dim: "4096" }, /"dim" to be a positive integer, found "4096"/],
    [{ ...base, n_heads: 0 }, /"n_heads" to be a positive integer, found 0/],
    [{ ...base, vocab_size: -1 }, /"vocab_size" to be a positive integer, found -1/],
    [{ ...base, n_layers: 1.5 }, /"n_layers" to be a positive integer, found 1.5/],
    [{ ...base, norm_eps: -1 }, /"norm_eps" to be a positive number, found -1/],
    [{ ...base, rope_theta: "big" }, /"rope_theta" to be a positive number/],
    [{ ...base, ffn_dim_multiplier: 0 }, /"ffn_dim_multiplier" to be a positive number/],
    [{ ...base, use_scaled_rope: "yes" }, /"use_scaled_rope" to be true or false/],
    [{ ...base, dim: 4100 }, /"dim" \(4100\) to be a multiple of "n_heads" \(32\)/],
    [{ ...base, n_kv_heads: 5 }, /"n_heads" \(32\) to be a multiple of "n_kv_heads" \(5\)/],
    [{ ...base, dim: 96, n_heads: 32 }, /even head size/],
  ];
  for (const [params, pattern] of cases) assertConfigError(JSON.stringify(params), pattern);
});

Deno.test("config: text that is not a JSON object is refused", () => {
  assertConfigError("{ dim: 4096 ", /expected JSON, found invalid text/);
  assertConfigError("[4096]", /expected a JSON object/);
  assertConfigError("null", /expected a JSON object/);
});
