/**
 * A Hugging Face `config.json` (`LlamaForCausalLM`) validated into the same frozen
 * {@linkcode ModelConfig} as Meta's `params.json`, with the same kind of errors.
 *
 * The keys and what they become:
 *
 * | `config.json`                                    | ModelConfig            |
 * | ------------------------------------------------ | ---------------------- |
 * | `hidden_size`                                    | `dim`                  |
 * | `intermediate_size`                              | `hiddenDim`            |
 * | `num_hidden_layers`                              | `nLayers`              |
 * | `num_attention_heads`, `num_key_value_heads`     | `nHeads`, `nKvHeads`   |
 * | `vocab_size`, `rms_norm_eps`, `rope_theta`       | `vocabSize`, `normEps`, `ropeTheta` |
 * | `rope_scaling` (`rope_type: "llama3"`, `factor`, `low_freq_factor`, `high_freq_factor`, `original_max_position_embeddings`) | `ropeScaling` |
 * | `max_position_embeddings`                        | `maxContext`           |
 *
 * `tie_word_embeddings` says whether `lm_head.weight` is left out ({@linkcode hfTiedEmbeddings});
 * `torch_dtype` is informative only (the tensors say their own dtype). Missing optional keys
 * take the defaults of transformers' `LlamaConfig`. Newer transformers releases write
 * `rope_parameters` (the RoPE base and scaling in one object) instead of `rope_theta` and
 * `rope_scaling`; both spellings are read.
 *
 * @example
 * ```ts
 * import { parseHuggingFaceConfig } from "./hf_config.ts";
 *
 * const path = "/models/Llama-3.2-1B-Instruct/config.json";
 * const config = parseHuggingFaceConfig(Deno.readTextFileSync(path), path);
 * config.hiddenDim; // 8192
 * config.ropeScaling; // { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 }
 * ```
 *
 * @module
 */

import { briefValue } from "../formats/excerpt.ts";
import { ConfigError } from "../errors.ts";
import type { RopeScaling } from "../kernels/rope.ts";
import { ConfigFields, finishModelConfig, type ModelConfig, readConfigObject } from "./config.ts";

/** The config's file name in a Hugging Face model folder. */
export const HF_CONFIG_FILE = "config.json";

const FIX = "use the config.json that came with the model's safetensors files";

/**
 * Validates a `config.json` and derives the sizes the model needs.
 *
 * @param json The text of `config.json`.
 * @param path The file's path, for error messages.
 * @returns A frozen config; `params` is the file as written.
 * @throws {ConfigError} When the JSON is invalid, a key is missing or has a bad value, the sizes
 * disagree, or the model is not a plain Llama (another architecture, biases, an activation
 * other than SiLU, a head size other than `hidden_size / num_attention_heads`, a RoPE scaling
 * other than Llama 3's).
 */
export function parseHuggingFaceConfig(json: string, path: string): ModelConfig {
  const params = readConfigObject(json, path, FIX);
  const read = new ConfigFields(params, path, FIX);
  const refuse = (what: string, fix = FIX): never => {
    throw new ConfigError(what, { path, fix });
  };

  const { architectures, model_type: modelType } = params;
  if (architectures != null) {
    if (!Array.isArray(architectures)) read.bad("architectures", `["LlamaForCausalLM"]`);
    if (!(architectures as unknown[]).includes("LlamaForCausalLM")) {
      refuse(
        `expected a LlamaForCausalLM model, found architectures ${briefValue(architectures)}`,
        "llama-bolts runs Llama 3.x models and their fine-tunes (architectures LlamaForCausalLM)",
      );
    }
  }
  if (modelType != null && modelType !== "llama") read.bad("model_type", `"llama"`);
  if (params.hidden_act != null && params.hidden_act !== "silu") read.bad("hidden_act", `"silu"`);
  for (const key of ["attention_bias", "mlp_bias"]) {
    if (read.boolean(key, false)) {
      read.bad(key, "false (llama-bolts runs Llama's bias-free projections)");
    }
  }

  read.boolean("tie_word_embeddings", false); // read by hfTiedEmbeddings
  const dim = read.positiveInt("hidden_size");
  const nHeads = read.positiveInt("num_attention_heads");
  if (params.head_dim != null && params.head_dim !== dim / nHeads) {
    read.bad("head_dim", `hidden_size / num_attention_heads = ${dim / nHeads}`);
  }

  // RoPE: `rope_theta` + `rope_scaling`, or (newer transformers) both in `rope_parameters`.
  let ropeTheta: number;
  let scaling: unknown;
  let scalingKey: string;
  if (params.rope_parameters != null) {
    const rope = params.rope_parameters;
    if (typeof rope !== "object" || Array.isArray(rope)) {
      read.bad("rope_parameters", "an object");
    }
    const fields = new ConfigFields(rope as Record<string, unknown>, path, FIX, "rope_parameters.");
    ropeTheta = fields.positiveNumber("rope_theta", 10000);
    scaling = rope;
    scalingKey = "rope_parameters";
  } else {
    ropeTheta = read.positiveNumber("rope_theta", 10000);
    scaling = params.rope_scaling;
    scalingKey = "rope_scaling";
  }

  return finishModelConfig(
    {
      dim,
      nLayers: read.positiveInt("num_hidden_layers"),
      nHeads,
      nKvHeads: read.positiveInt("num_key_value_heads", nHeads),
      vocabSize: read.positiveInt("vocab_size"),
      multipleOf: null,
      ffnDimMultiplier: null,
      hiddenDim: read.positiveInt("intermediate_size"),
      normEps: read.positiveNumber("rms_norm_eps", 1e-6),
      ropeTheta,
      ropeScaling: readRopeScaling(scaling, scalingKey, read, path),
      maxContext: read.positiveInt("max_position_embeddings", 2048),
    },
    {
      dim: "hidden_size",
      nHeads: "num_attention_heads",
      nKvHeads: "num_key_value_heads",
      nLayers: "num_hidden_layers",
      vocabSize: "vocab_size",
    },
    params,
    path,
    FIX,
  );
}

/**
 * Whether the model reuses `embed_tokens` as its output layer (`tie_word_embeddings`, default
 * false as in `LlamaConfig`).
 *
 * @param config A config from {@linkcode parseHuggingFaceConfig}.
 * @returns `true` when the folder has (or needs) no `lm_head.weight`.
 */
export function hfTiedEmbeddings(config: ModelConfig): boolean {
  return config.params.tie_word_embeddings === true;
}

/** `rope_scaling` (or `rope_parameters`): none, `"default"`, or Llama 3's four constants. */
function readRopeScaling(
  value: unknown,
  key: string,
  read: ConfigFields,
  path: string,
): RopeScaling | null {
  if (value == null) return null;
  if (typeof value !== "object" || Array.isArray(value)) {
    read.bad(key, `null or an object with rope_type "llama3"`);
  }
  const scaling = value as Record<string, unknown>;
  const type = scaling.rope_type ?? scaling.type ?? "default";
  if (type === "default") return null;
  if (type !== "llama3") {
    throw new ConfigError(
      `expected ${key} of rope_type "llama3" (or none), found ${briefValue(type)}`,
      {
        path,
        fix: "llama-bolts implements Llama 3.1's RoPE scaling only; use a Llama 3.x model",
      },
    );
  }
  const fields = new ConfigFields(scaling, path, FIX, `${key}.`);
  const result: RopeScaling = {
    factor: fields.positiveNumber("factor"),
    lowFreqFactor: fields.positiveNumber("low_freq_factor"),
    highFreqFactor: fields.positiveNumber("high_freq_factor"),
    originalContext: fields.positiveInt("original_max_position_embeddings"),
  };
  if (result.highFreqFactor <= result.lowFreqFactor) {
    fields.bad("high_freq_factor", `larger than low_freq_factor (${result.lowFreqFactor})`);
  }
  return result;
}
