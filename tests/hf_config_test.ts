/**
 * `config.json` parsing against the files Hugging Face publishes for Meta's models: the same
 * model's `config.json` and `params.json` must give the same sizes, and every key has its error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConfigError } from "../lib/errors.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { hfTiedEmbeddings, parseHuggingFaceConfig } from "../lib/model/hf_config.ts";

/** meta-llama/Llama-3.1-8B-Instruct's config.json, as published (transformers 4.43). */
const LLAMA31_8B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: "silu",
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-05,
  rope_scaling: {
    factor: 8.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  transformers_version: "4.43.0.dev0",
  use_cache: true,
  vocab_size: 128256,
};

/** meta-llama/Llama-3.2-1B-Instruct's config.json, as published (transformers 4.45). */
const LLAMA32_1B = {
  ...LLAMA31_8B,
  head_dim: 64,
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  rope_scaling: { ...LLAMA31_8B.rope_scaling, factor: 32.0 },
  tie_word_embeddings: true,
  transformers_version: "4.45.0.dev0",
};

/** Meta's params.json of the same two models. */
const META_8B = {
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
};
const META_1B = {
  ...META_8B,
  dim: 2048,
  ffn_dim_multiplier: 1.5,
  multiple_of: 256,
  n_layers: 16,
};

const SAME_KEYS = [
  "dim",
  "nLayers",
  "nHeads",
  "nKvHeads",
  "vocabSize",
  "normEps",
  "ropeTheta",
  "useScaledRope",
  "headDim",
  "kvDim",
  "hiddenDim",
  "maxContext",
] as const;

Deno.test("hf config: Meta's published config.json and params.json give the same model", () => {
  for (const [hf, meta] of [[LLAMA31_8B, META_8B], [LLAMA32_1B, META_1B]] as const) {
    const fromHf = parseHuggingFaceConfig(JSON.stringify(hf), "config.json");
    const fromMeta = parseModelConfig(JSON.stringify(meta), "params.json");
    for (const key of SAME_KEYS) assert.equal(fromHf[key], fromMeta[key], key);
    assert.deepEqual(fromHf.params, hf);
    assert.equal(fromHf.multipleOf, null);
  }
  const c8 = parseHuggingFaceConfig(JSON.stringify(LLAMA31_8B), "config.json");
  assert.deepEqual(
    c8.ropeScaling,
    parseModelConfig(JSON.stringify(META_8B), "params.json").ropeScaling,
  );
  assert.equal(hfTiedEmbeddings(c8), false);
  const c1 = parseHuggingFaceConfig(JSON.stringify(LLAMA32_1B), "config.json");
  assert.deepEqual(c1.ropeScaling, {
    factor: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalContext: 8192,
  });
  assert.equal(hfTiedEmbeddings(c1), true);
  assert.ok(Object.isFrozen(c1) && Object.isFrozen(c1.ropeScaling) && Object.isFrozen(c1.params));
});

Deno.test("hf config: rope_parameters (newer transformers) and LlamaConfig's defaults", () => {
  const { rope_scaling: scaling, rope_theta: theta, ...rest } = LLAMA32_1B;
  const newer = parseHuggingFaceConfig(
    JSON.stringify({ ...rest, rope_parameters: { ...scaling, rope_theta: theta } }),
    "config.json",
  );
  assert.equal(newer.ropeTheta, 500000);
  assert.equal(newer.ropeScaling?.factor, 32);

  const minimal = parseHuggingFaceConfig(
    JSON.stringify({
      hidden_size: 64,
      intermediate_size: 96,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      vocab_size: 10,
    }),
    "config.json",
  );
  assert.equal(minimal.nKvHeads, 4);
  assert.equal(minimal.normEps, 1e-6);
  assert.equal(minimal.ropeTheta, 10000);
  assert.equal(minimal.ropeScaling, null);
  assert.equal(minimal.useScaledRope, false);
  assert.equal(minimal.maxContext, 2048);
  assert.equal(hfTiedEmbeddings(minimal), false);
  const unscaled = parseHuggingFaceConfig(
    JSON.stringify({ ...LLAMA31_8B, rope_scaling: { rope_type: "default" } }),
    "config.json",
  );
  assert.equal(unscaled.ropeScaling, null);
});

function assertConfigError(config: unknown, pattern: RegExp) {
  const path = "/models/x/config.json";
  assert.throws(
    () =>
      parseHuggingFaceConfig(typeof config === "string" ? config : JSON.stringify(config), path),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, pattern);
      assert.equal(e.path, path);
      assert.ok(e.fix);
      return true;
    },
  );
}

Deno.test("hf config: each required key, when missing, is named", () => {
  for (
    const key of [
      "hidden_size",
      "intermediate_size",
      "num_hidden_layers",
      "num_attention_heads",
      "vocab_size",
    ]
  ) {
    const config: Record<string, unknown> = { ...LLAMA31_8B };
    delete config[key];
    assertConfigError(config, new RegExp(`"${key}" to be a positive integer, found no such key`));
  }
});

Deno.test("hf config: bad values and unsupported models are one clear error each", () => {
  const base = LLAMA31_8B;
  const scaling = base.rope_scaling;
  const cases: Array<[unknown, RegExp]> = [
    ["{ hidden_size: 4096", /expected JSON, found invalid text/],
    ["[]", /expected a JSON object/],
    [{ ...base, hidden_size: "4096" }, /"hidden_size" to be a positive integer, found "4096"/],
    [{ ...base, num_key_value_heads: 0 }, /"num_key_value_heads" to be a positive integer/],
    [{ ...base, rms_norm_eps: -1 }, /"rms_norm_eps" to be a positive number, found -1/],
    [{ ...base, rope_theta: "big" }, /"rope_theta" to be a positive number/],
    [{ ...base, max_position_embeddings: 0 }, /"max_position_embeddings" to be a positive/],
    [{ ...base, tie_word_embeddings: "yes" }, /"tie_word_embeddings" to be true or false/],
    [{ ...base, hidden_size: 4100 }, /"hidden_size" \(4100\) to be a multiple of "num_attention/],
    [{ ...base, num_key_value_heads: 5 }, /"num_attention_heads" \(32\) to be a multiple of/],
    [{ ...base, head_dim: 96 }, /"head_dim" to be hidden_size \/ num_attention_heads = 128/],
    [{ ...base, architectures: ["MistralForCausalLM"] }, /expected a LlamaForCausalLM model/],
    [{ ...base, model_type: "qwen2" }, /"model_type" to be "llama", found "qwen2"/],
    [{ ...base, hidden_act: "gelu" }, /"hidden_act" to be "silu", found "gelu"/],
    [{ ...base, attention_bias: true }, /"attention_bias" to be false/],
    [{ ...base, mlp_bias: true }, /"mlp_bias" to be false/],
    [{ ...base, rope_scaling: { type: "yarn", factor: 4 } }, /rope_type "llama3".*found "yarn"/],
    [{ ...base, rope_scaling: [] }, /"rope_scaling" to be null or an object/],
    [{ ...base, rope_scaling: { ...scaling, factor: 0 } }, /"rope_scaling.factor" to be a pos/],
    [
      { ...base, rope_scaling: { ...scaling, low_freq_factor: undefined } },
      /"rope_scaling.low_freq_factor" to be a positive number, found no such key/,
    ],
    [
      { ...base, rope_scaling: { ...scaling, original_max_position_embeddings: 81.5 } },
      /"rope_scaling.original_max_position_embeddings" to be a positive integer, found 81.5/,
    ],
    [
      { ...base, rope_scaling: { ...scaling, high_freq_factor: 1 } },
      /"rope_scaling.high_freq_factor" to be larger than low_freq_factor \(1\), found 1/,
    ],
    [{ ...base, rope_parameters: 5 }, /"rope_parameters" to be an object/],
  ];
  for (const [config, pattern] of cases) assertConfigError(config, pattern);
});
