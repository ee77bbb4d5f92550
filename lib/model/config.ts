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
  /** The feed-forward size is rounded up to a multiple of this. */
  readonly multipleOf: number;
  /** Scales the feed-forward size, or `null`. */
  readonly ffnDimMultiplier: number | null;
  /** RMSNorm epsilon. */
  readonly normEps: number;
  /** RoPE base frequency. */
  readonly ropeTheta: number;
  /** Llama 3.1 RoPE frequency scaling for long contexts. */
  readonly useScaledRope: boolean;
  /** Size of one attention head: `dim / nHeads`. */
  readonly headDim: number;
  /** Size of all key (or value) heads together: `nKvHeads * headDim`. */
  readonly kvDim: number;
  /** Feed-forward (SwiGLU) hidden size, as Meta's reference computes it. */
  readonly hiddenDim: number;
  /** Longest context the model was trained for: 131072 with scaled RoPE, else 8192. */
  readonly maxContext: number;
  /** The parsed `params.json`, as written (frozen). */
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(`expected JSON, found invalid text: ${(error as Error).message}`, {
      path,
      fix: FIX,
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError("expected a JSON object of hyperparameters", { path, fix: FIX });
  }
  const params = parsed as Record<string, unknown>;

  const bad = (key: string, expected: string): never => {
    const found = key in params ? `found ${JSON.stringify(params[key])}` : "found no such key";
    throw new ConfigError(`expected "${key}" to be ${expected}, ${found}`, { path, fix: FIX });
  };
  const positiveInt = (key: string, fallback?: number): number => {
    const value = params[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) <= 0) bad(key, "a positive integer");
    return value as number;
  };
  const positiveNumber = (key: string, fallback: number): number => {
    const value = params[key] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      bad(key, "a positive number");
    }
    return value as number;
  };

  const dim = positiveInt("dim");
  const nLayers = positiveInt("n_layers");
  const nHeads = positiveInt("n_heads");
  const nKvHeads = positiveInt("n_kv_heads", nHeads);
  const vocabSize = positiveInt("vocab_size");
  const multipleOf = positiveInt("multiple_of", 256);
  const ffnDimMultiplier = params.ffn_dim_multiplier == null
    ? null
    : positiveNumber("ffn_dim_multiplier", 1);
  const normEps = positiveNumber("norm_eps", 1e-5);
  const ropeTheta = positiveNumber("rope_theta", 500000);
  const useScaledRope = params.use_scaled_rope ?? false;
  if (typeof useScaledRope !== "boolean") bad("use_scaled_rope", "true or false");

  if (dim % nHeads !== 0) {
    throw new ConfigError(
      `expected "dim" (${dim}) to be a multiple of "n_heads" (${nHeads})`,
      { path, fix: FIX },
    );
  }
  const headDim = dim / nHeads;
  if (headDim % 2 !== 0) {
    throw new ConfigError(
      `expected an even head size for RoPE, found dim / n_heads = ${headDim}`,
      { path, fix: FIX },
    );
  }
  if (nHeads % nKvHeads !== 0) {
    throw new ConfigError(
      `expected "n_heads" (${nHeads}) to be a multiple of "n_kv_heads" (${nKvHeads})`,
      { path, fix: FIX },
    );
  }

  return Object.freeze({
    dim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize,
    multipleOf,
    ffnDimMultiplier,
    normEps,
    ropeTheta,
    useScaledRope: useScaledRope as boolean,
    headDim,
    kvDim: nKvHeads * headDim,
    hiddenDim: feedForwardHiddenDim(dim, multipleOf, ffnDimMultiplier),
    maxContext: useScaledRope ? 131072 : 8192,
    params: deepFreeze(params),
  });
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
