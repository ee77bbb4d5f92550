/**
 * The model's hyperparameters: Meta's `params.json`, validated once into an immutable
 * {@linkcode ModelConfig} together with the sizes derived from it (head size, key/value size,
 * feed-forward size, context length).
 *
 * @example
 * ```ts
 * import { parseModelConfig } from "./config.ts";
 *
 * const config = parseModelConfig(
 *   `{"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256,
 *     "multiple_of": 1024, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05,
 *     "rope_theta": 500000.0, "use_scaled_rope": true}`,
 *   "params.json",
 * );
 * config.hiddenDim; // 14336
 * ```
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { briefValue } from "../formats/excerpt.ts";
import { parseJsonWithLimits } from "../formats/json_limits.ts";
import { LIMITS } from "../formats/limits.ts";
import { LLAMA31_ROPE_SCALING, type RopeScaling } from "../kernels/rope.ts";

/** Llama 3 hyperparameters and derived sizes (a frozen object). */
export interface ModelConfig {
  /** Model width: size of the embedding and of the residual stream. */
  readonly dim: number;
  /** Number of transformer blocks. */
  readonly nLayers: number;
  /** Number of query heads. */
  readonly nHeads: number;
  /** Number of key/value heads (grouped-query attention: several query heads share one). */
  readonly nKvHeads: number;
  /** Number of tokens the embedding and output layers know. */
  readonly vocabSize: number;
  /**
   * The feed-forward size is rounded up to a multiple of this; `null` when the config gives
   * the size itself (`intermediate_size` in `config.json`).
   */
  readonly multipleOf: number | null;
  /** Scales the feed-forward size, or `null`. */
  readonly ffnDimMultiplier: number | null;
  /** RMSNorm epsilon. */
  readonly normEps: number;
  /** RoPE base frequency. */
  readonly ropeTheta: number;
  /** Llama 3.1 RoPE frequency scaling for long contexts: `ropeScaling !== null`. */
  readonly useScaledRope: boolean;
  /** The scaling's constants (Meta's 8, 1, 4, 8192 for `use_scaled_rope`), or `null`. */
  readonly ropeScaling: RopeScaling | null;
  /** Size of one attention head: `dim / nHeads`. */
  readonly headDim: number;
  /** Size of all key (or value) heads together: `nKvHeads * headDim`. */
  readonly kvDim: number;
  /** Feed-forward (SwiGLU) hidden size, as Meta's reference computes it. */
  readonly hiddenDim: number;
  /**
   * Longest context the model was trained for: from `params.json` 131072 with scaled RoPE,
   * else 8192; from `config.json` its `max_position_embeddings`.
   */
  readonly maxContext: number;
  /** The parsed config file (`params.json` or `config.json`), as written (frozen). */
  readonly params: Readonly<Record<string, unknown>>;
}

const FIX = "use the params.json that came with the checkpoint (Meta's `llama model download`)";

/**
 * Validates `params.json` and derives the sizes the model needs.
 *
 * Missing optional keys take the defaults of Meta's reference `ModelArgs`: `n_kv_heads` =
 * `n_heads`, `multiple_of` 256, `ffn_dim_multiplier` none, `norm_eps` 1e-5, `rope_theta`
 * 500000, `use_scaled_rope` false. Unknown keys are kept in `params` and otherwise ignored.
 *
 * @param json The text of `params.json`.
 * @param path The file's path, for error messages.
 * @returns A frozen config.
 * @throws {ConfigError} When the JSON is invalid, a key is missing or has a bad value, or the
 * sizes disagree (e.g. `dim` not divisible by `n_heads`).
 */
export function parseModelConfig(json: string, path: string): ModelConfig {
  const params = readConfigObject(json, path, FIX);
  const read = new ConfigFields(params, path, FIX);

  const dim = read.positiveInt("dim");
  const nHeads = read.positiveInt("n_heads");
  const multipleOf = read.positiveInt("multiple_of", 256);
  const ffnDimMultiplier = params.ffn_dim_multiplier == null
    ? null
    : read.positiveNumber("ffn_dim_multiplier", 1);
  const useScaledRope = read.boolean("use_scaled_rope", false);
  return finishModelConfig(
    {
      dim,
      nLayers: read.positiveInt("n_layers"),
      nHeads,
      nKvHeads: read.positiveInt("n_kv_heads", nHeads),
      vocabSize: read.positiveInt("vocab_size"),
      multipleOf,
      ffnDimMultiplier,
      hiddenDim: feedForwardHiddenDim(dim, multipleOf, ffnDimMultiplier),
      normEps: read.positiveNumber("norm_eps", 1e-5),
      ropeTheta: read.positiveNumber("rope_theta", 500000),
      ropeScaling: useScaledRope ? LLAMA31_ROPE_SCALING : null,
      maxContext: useScaledRope ? 131072 : 8192,
    },
    { dim: "dim", nHeads: "n_heads", nKvHeads: "n_kv_heads" },
    params,
    path,
    FIX,
  );
}

/** The sizes a config file gives, before the shared checks and derivations. */
export interface ConfigSizes {
  readonly dim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly vocabSize: number;
  readonly multipleOf: number | null;
  readonly ffnDimMultiplier: number | null;
  readonly hiddenDim: number;
  readonly normEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  readonly maxContext: number;
}

/**
 * The checks every config format shares (heads divide the width, an even head size, query
 * heads a multiple of key/value heads), then the frozen {@linkcode ModelConfig}.
 *
 * @param sizes What the file gave.
 * @param keys The file's own names for width and head counts, for messages.
 * @param params The parsed file, kept in the config.
 * @param path The file, for messages.
 * @param fix What to tell the user when the sizes disagree.
 * @returns The frozen config.
 * @throws {ConfigError} When the sizes disagree.
 */
export function finishModelConfig(
  sizes: ConfigSizes,
  keys: {
    readonly dim: string;
    readonly nHeads: string;
    readonly nKvHeads: string;
    readonly nLayers?: string;
    readonly vocabSize?: string;
  },
  params: Record<string, unknown>,
  path: string,
  fix: string,
): ModelConfig {
  const { dim, nHeads, nKvHeads } = sizes;
  // Sizes past these limits are no Llama; refusing them here keeps every later allocation
  // (expected tensor names, run state) bounded.
  const limited: Array<[string, number, number]> = [
    [keys.dim, dim, LIMITS.dim],
    [keys.nHeads, nHeads, LIMITS.dim],
    [keys.nKvHeads, nKvHeads, LIMITS.dim],
    [keys.nLayers ?? "n_layers", sizes.nLayers, LIMITS.layers],
    [keys.vocabSize ?? "vocab_size", sizes.vocabSize, LIMITS.vocabSize],
    ["the feed-forward size", sizes.hiddenDim, 4 * LIMITS.dim],
  ];
  for (const [key, value, max] of limited) {
    if (!(value <= max)) {
      throw new ConfigError(
        `expected ${key.startsWith("the ") ? key : `"${key}"`} to be at most ${max}, ` +
          `found ${value}`,
        { path, fix },
      );
    }
  }
  if (dim % nHeads !== 0) {
    throw new ConfigError(
      `expected "${keys.dim}" (${dim}) to be a multiple of "${keys.nHeads}" (${nHeads})`,
      { path, fix },
    );
  }
  const headDim = dim / nHeads;
  if (headDim % 2 !== 0) {
    throw new ConfigError(
      `expected an even head size for RoPE, found ${keys.dim} / ${keys.nHeads} = ${headDim}`,
      { path, fix },
    );
  }
  if (nHeads % nKvHeads !== 0) {
    throw new ConfigError(
      `expected "${keys.nHeads}" (${nHeads}) to be a multiple of "${keys.nKvHeads}" (${nKvHeads})`,
      { path, fix },
    );
  }
  return Object.freeze({
    dim,
    nLayers: sizes.nLayers,
    nHeads,
    nKvHeads,
    vocabSize: sizes.vocabSize,
    multipleOf: sizes.multipleOf,
    ffnDimMultiplier: sizes.ffnDimMultiplier,
    normEps: sizes.normEps,
    ropeTheta: sizes.ropeTheta,
    useScaledRope: sizes.ropeScaling !== null,
    ropeScaling: sizes.ropeScaling === null ? null : Object.freeze({ ...sizes.ropeScaling }),
    headDim,
    kvDim: nKvHeads * headDim,
    hiddenDim: sizes.hiddenDim,
    maxContext: sizes.maxContext,
    params: deepFreeze(params),
  });
}

/**
 * Parses a config file's text, which must be one JSON object.
 *
 * @param json The text.
 * @param path The file, for messages.
 * @param fix What to tell the user.
 * @returns The object.
 * @throws {ConfigError} When the text is not JSON, nests deeper than `LIMITS.jsonDepth`, or is
 * not an object.
 */
export function readConfigObject(json: string, path: string, fix: string): Record<string, unknown> {
  const result = parseJsonWithLimits(json);
  if ("error" in result) throw new ConfigError(result.error, { path, fix });
  const parsed = result.value;
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError("expected a JSON object of hyperparameters", { path, fix });
  }
  return parsed as Record<string, unknown>;
}

/** Reads typed keys of a config object; a bad value is a ConfigError naming key and value. */
export class ConfigFields {
  /**
   * @param params The parsed object (or a nested object of it).
   * @param path The file, for messages.
   * @param fix What to tell the user.
   * @param prefix Written before each key in messages (e.g. `rope_scaling.`).
   */
  constructor(
    readonly params: Record<string, unknown>,
    readonly path: string,
    readonly fix: string,
    readonly prefix = "",
  ) {}

  /** Throws the ConfigError for `key`, saying what was expected and found. */
  bad(key: string, expected: string): never {
    const value = this.params[key];
    const found = !Object.hasOwn(this.params, key)
      ? "found no such key"
      : typeof value === "number" && !Number.isFinite(value)
      ? "found a number beyond float range"
      : `found ${briefValue(value)}`;
    throw new ConfigError(`expected "${this.prefix}${key}" to be ${expected}, ${found}`, {
      path: this.path,
      fix: this.fix,
    });
  }

  /** A positive integer; `fallback` when the key is absent or null (required without one). */
  positiveInt(key: string, fallback?: number): number {
    const value = this.params[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) <= 0) {
      this.bad(key, "a positive integer");
    }
    return value as number;
  }

  /** A positive finite number; `fallback` when absent or null (required without one). */
  positiveNumber(key: string, fallback?: number): number {
    const value = this.params[key] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      this.bad(key, "a positive number");
    }
    return value as number;
  }

  /** `true` or `false`; `fallback` when absent or null. */
  boolean(key: string, fallback: boolean): boolean {
    const value = this.params[key] ?? fallback;
    if (typeof value !== "boolean") this.bad(key, "true or false");
    return value as boolean;
  }
}

/**
 * The SwiGLU hidden size of Meta's reference `FeedForward`: two thirds of `4 * dim`, scaled by
 * `ffn_dim_multiplier`, rounded up to a multiple of `multiple_of`.
 *
 * @param dim Model width.
 * @param multipleOf Rounding step.
 * @param ffnDimMultiplier Optional scale.
 * @returns The hidden size (14336 for Llama 3.1 8B, 8192 for Llama 3.2 1B).
 */
export function feedForwardHiddenDim(
  dim: number,
  multipleOf: number,
  ffnDimMultiplier: number | null,
): number {
  let hidden = Math.trunc((2 * (4 * dim)) / 3);
  if (ffnDimMultiplier !== null) hidden = Math.trunc(ffnDimMultiplier * hidden);
  return multipleOf * Math.ceil(hidden / multipleOf);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
