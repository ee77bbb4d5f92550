/**
 * Opens a GGUF file (llama.cpp's format) into the format-neutral {@linkcode Checkpoint} the
 * engine runs, with no conversion step:
 *
 * - the file is placed once in a {@linkcode WeightsMemory} (mapped, not copied) and every
 *   tensor is an address in it;
 * - the config comes from the `llama.*` keys; Llama 3.1's RoPE scaling from the
 *   `rope_freqs.weight` tensor (frequency divisors), from which the scaling's factor is read
 *   back and checked;
 * - tensor names are turned into Meta's (`gguf_tensor_names.ts`); no `output.weight` means tied
 *   embeddings;
 * - `ropeLayout: "interleaved"`: llama.cpp stores `llama` q/k rows in Meta's order (its
 *   converter undoes Hugging Face's permutation), so they rotate as Meta's do.
 *
 * Only architecture `llama` is run; a tensor of a type the engine has no kernels for is named
 * in the error. The tokenizer lives in the same file's metadata (`lib/tokenizer/`).
 *
 * @example
 * ```ts
 * import { loadGgufCheckpoint } from "./gguf_checkpoint.ts";
 *
 * using checkpoint = loadGgufCheckpoint("/models/Llama-3.2-1B-Instruct-f16.gguf");
 * checkpoint.tensor("layers.0.attention.wq.weight").sourceName; // "blk.0.attn_q.weight"
 * ```
 *
 * @module
 */

import { resolve } from "node:path";
import { CheckpointError, ConfigError } from "../errors.ts";
import { type GgufFile, ggufNumber, ggufString, readGguf } from "../formats/gguf.ts";
import { LLAMA31_ROPE_SCALING, ropeFrequencies, type RopeScaling } from "../kernels/rope.ts";
import { readFloats } from "../kernels/ts_backend.ts";
import { WeightsMemory } from "../tensor/weights_memory.ts";
import { type Checkpoint, checkShapes, OpenCheckpoint, type WeightTensor } from "./checkpoint.ts";
import { finishModelConfig, type ModelConfig } from "./config.ts";
import { metaTensorNameOfGguf, ROPE_FREQS_TENSOR } from "./gguf_tensor_names.ts";

/** An open GGUF checkpoint: a {@linkcode Checkpoint} that also keeps the file's header. */
export interface GgufCheckpoint extends Checkpoint {
  /** The parsed header: metadata (tokenizer included) and tensor infos. */
  readonly gguf: GgufFile;
}

const FIX = "use a Llama 3 GGUF file (llama.cpp's convert_hf_to_gguf.py or `llama convert`)";

/**
 * Whether a path names a GGUF file (by its extension).
 *
 * @param path A `--model` value.
 * @returns `true` for `*.gguf`.
 */
export function isGgufPath(path: string): boolean {
  return /\.gguf$/i.test(path);
}

/**
 * Opens a GGUF file.
 *
 * @param path The `.gguf` file.
 * @param options `preferMmap: false` copies the file into memory instead of mapping it.
 * @returns The open checkpoint (`format: "gguf"`, `ropeLayout: "interleaved"`).
 * @throws {CheckpointError} When the file is missing, not GGUF or damaged, not a Llama, or holds
 * a tensor type the engine cannot run yet.
 * @throws {ConfigError} When the `llama.*` keys are missing or disagree with the tensors.
 */
export function loadGgufCheckpoint(
  path: string,
  options: { preferMmap?: boolean } = {},
): GgufCheckpoint {
  const file = resolve(path);
  const weights = WeightsMemory.open([file], options);
  try {
    const placed = weights.files[0];
    const gguf = readGguf(placed.bytes, file);
    const architecture = ggufString(gguf, "general.architecture", file);
    if (architecture !== "llama") {
      throw new CheckpointError(
        architecture === undefined
          ? `expected "general.architecture" = "llama", found no architecture`
          : `${architecture} models are not supported (general.architecture = ` +
            `"${architecture}"); llama-bolts runs Llama 3 (architecture "llama")`,
        { path: file, fix: "use a Llama 3.x GGUF file" },
      );
    }
    const tensors = new Map<string, WeightTensor>();
    for (const info of gguf.tensors.values()) {
      const name = metaTensorNameOfGguf(info.name) ?? info.name;
      if (info.type.storage === undefined) {
        throw new CheckpointError(
          `tensor type ${info.type.name} is not supported yet (tensor "${info.name}")`,
          { path: file, fix: "convert the model to F16, BF16 or F32 (e.g. `llama convert`)" },
        );
      }
      tensors.set(name, {
        name,
        sourceName: info.name,
        type: info.type.storage,
        shape: info.shape,
        byteOffset: placed.byteOffset + info.byteOffset,
        byteLength: info.byteLength,
      });
    }
    const config = ggufConfig(gguf, file, tensors, weights);
    checkShapes(tensors, config, file);
    const checkpoint = new OpenCheckpoint(file, "gguf", config, weights, tensors, "interleaved");
    return Object.assign(checkpoint, { gguf });
  } catch (error) {
    weights.close();
    throw error;
  }
}

/** The model config of a Llama GGUF file. */
function ggufConfig(
  gguf: GgufFile,
  path: string,
  tensors: ReadonlyMap<string, WeightTensor>,
  weights: WeightsMemory,
): ModelConfig {
  const required = (key: string): number => {
    const value = ggufNumber(gguf, key, path);
    if (value === undefined || !Number.isFinite(value) || value <= 0) {
      throw new ConfigError(
        `expected "${key}" to be a positive number, found ${value ?? "no such key"}`,
        { path, fix: FIX },
      );
    }
    return value;
  };
  const integer = (key: string): number => {
    const value = required(key);
    if (!Number.isSafeInteger(value)) {
      throw new ConfigError(`expected "${key}" to be an integer, found ${value}`, {
        path,
        fix: FIX,
      });
    }
    return value;
  };
  const dim = integer("llama.embedding_length");
  const nHeads = integer("llama.attention.head_count");
  const nKvHeads = gguf.metadata.has("llama.attention.head_count_kv")
    ? integer("llama.attention.head_count_kv")
    : nHeads;
  const embedding = tensors.get("tok_embeddings.weight");
  const vocabSize = gguf.metadata.has("llama.vocab_size")
    ? integer("llama.vocab_size")
    : embedding?.shape[0] ?? integer("llama.vocab_size");
  const ropeTheta = gguf.metadata.has("llama.rope.freq_base")
    ? required("llama.rope.freq_base")
    : 10000;
  const headDim = dim / nHeads;
  if (gguf.metadata.has("llama.rope.dimension_count")) {
    const ropeDims = integer("llama.rope.dimension_count");
    if (ropeDims !== headDim) {
      throw new ConfigError(
        `expected "llama.rope.dimension_count" to be the head size ${headDim}, found ${ropeDims} ` +
          `(partial RoPE is not Llama 3's)`,
        { path, fix: FIX },
      );
    }
  }
  const params: Record<string, unknown> = {};
  for (const [key, value] of gguf.metadata) {
    if (key.startsWith("llama.") || key.startsWith("general.")) params[key] = value.value;
  }
  const ropeFreqs = tensors.get(ROPE_FREQS_TENSOR);
  const ropeScaling = ropeFreqs === undefined ? null : readRopeScaling(
    readFloats(weights.buffer, {
      type: ropeFreqs.type,
      byteOffset: ropeFreqs.byteOffset,
      rows: 1,
      cols: ropeFreqs.shape.reduce((a, b) => a * b, 1),
    }),
    headDim,
    ropeTheta,
    path,
  );
  return finishModelConfig(
    {
      dim,
      nLayers: integer("llama.block_count"),
      nHeads,
      nKvHeads,
      vocabSize,
      multipleOf: null,
      ffnDimMultiplier: null,
      hiddenDim: integer("llama.feed_forward_length"),
      normEps: required("llama.attention.layer_norm_rms_epsilon"),
      ropeTheta,
      ropeScaling,
      maxContext: gguf.metadata.has("llama.context_length")
        ? integer("llama.context_length")
        : 8192,
    },
    {
      dim: "llama.embedding_length",
      nHeads: "llama.attention.head_count",
      nKvHeads: "llama.attention.head_count_kv",
    },
    params,
    path,
    FIX,
  );
}

/**
 * Llama 3.1's scaling constants from llama.cpp's `rope_freqs.weight` divisors: the largest
 * divisor is the factor (8 for Llama 3.1, 32 for 3.2); the other constants are Meta's (low and
 * high frequency factors 1 and 4, original context 8192), checked by recomputing every divisor.
 */
function readRopeScaling(
  divisors: Float32Array,
  headDim: number,
  theta: number,
  path: string,
): RopeScaling | null {
  if (divisors.length !== headDim / 2) {
    throw new ConfigError(
      `expected ${ROPE_FREQS_TENSOR} to hold ${headDim / 2} values (half the head size), ` +
        `found ${divisors.length}`,
      { path, fix: FIX },
    );
  }
  let factor = 1;
  for (const d of divisors) factor = Math.max(factor, d);
  if (factor === 1) return null;
  const scaling = { ...LLAMA31_ROPE_SCALING, factor };
  const plain = ropeFrequencies(headDim, theta, null);
  const scaled = ropeFrequencies(headDim, theta, scaling);
  for (let i = 0; i < divisors.length; i++) {
    const expected = plain[i] / scaled[i];
    if (Math.abs(divisors[i] - expected) > 1e-5 * expected) {
      throw new ConfigError(
        `${ROPE_FREQS_TENSOR} is not Llama 3.1's RoPE scaling: value ${i} is ${divisors[i]}, ` +
          `expected ${expected} (factor ${factor}, low/high frequency factors 1/4, context 8192)`,
        { path, fix: FIX },
      );
    }
  }
  return scaling;
}
