/**
 * Opens a Hugging Face model folder (`transformers`' `save_pretrained` layout) into the
 * format-neutral {@linkcode Checkpoint} the engine runs, with no conversion step:
 *
 * - `config.json` → the {@linkcode ModelConfig} ({@linkcode parseHuggingFaceConfig});
 * - `model.safetensors`, or the shards `model.safetensors.index.json` lists, each placed once
 *   in one {@linkcode WeightsMemory} (mapped, not copied), tensors read from their headers;
 * - tensor names turned into Meta's ({@linkcode metaTensorName}), shapes checked against the
 *   config, `lm_head.weight` present exactly when `tie_word_embeddings` is false;
 * - `ropeLayout: "halves"`: the q/k rows are in `rotate_half` order, which the engine rotates
 *   as they are.
 *
 * The tokenizer (`tokenizer.json`) is read separately (`lib/tokenizer/hf_tokenizer.ts`).
 *
 * @example
 * ```ts
 * import { loadHuggingFaceCheckpoint } from "./hf_checkpoint.ts";
 *
 * using checkpoint = loadHuggingFaceCheckpoint("/models/Llama-3.1-8B-Instruct");
 * checkpoint.tensor("layers.0.attention.wq.weight").sourceName;
 * // "model.layers.0.self_attn.q_proj.weight", in model-00001-of-00004.safetensors
 * ```
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { CheckpointError, ConfigError } from "../errors.ts";
import { isFile } from "../files.ts";
import { readSafetensors, type SafetensorsHeader } from "../formats/safetensors.ts";
import {
  checkShardContents,
  parseSafetensorsIndex,
  SAFETENSORS_INDEX_FILE,
  shardPaths,
} from "../formats/safetensors_index.ts";
import { WeightsMemory } from "../tensor/weights_memory.ts";
import {
  type Checkpoint,
  countLayers,
  expectedTensorShapes,
  OpenCheckpoint,
  type WeightTensor,
} from "./checkpoint.ts";
import type { ModelConfig } from "./config.ts";
import { HF_CONFIG_FILE, hfTiedEmbeddings, parseHuggingFaceConfig } from "./hf_config.ts";
import { hfTensorName, metaTensorName } from "./hf_tensor_names.ts";

/** The weights of a single-file Hugging Face model. */
export const SAFETENSORS_FILE = "model.safetensors";

const DOWNLOAD_FIX = "download the whole model folder (config.json, model*.safetensors, " +
  "tokenizer.json), e.g. `hf download meta-llama/Llama-3.2-1B-Instruct --local-dir DIR`";

/**
 * Whether a folder looks like a Hugging Face model: `config.json` beside `model.safetensors`
 * or `model.safetensors.index.json`.
 *
 * @param dir A folder.
 * @returns `true` when both are there.
 */
export function isHuggingFaceFolder(dir: string): boolean {
  return isFile(join(dir, HF_CONFIG_FILE)) &&
    (isFile(join(dir, SAFETENSORS_FILE)) || isFile(join(dir, SAFETENSORS_INDEX_FILE)));
}

/**
 * Opens a Hugging Face model folder.
 *
 * @param dir The folder.
 * @param options `preferMmap: false` copies the files into memory instead of mapping them.
 * @returns The open checkpoint (`format: "huggingface"`, `ropeLayout: "halves"`).
 * @throws {ConfigError} When `config.json` is missing or invalid, or disagrees with the tensors
 * (a shape, or `tie_word_embeddings` against `lm_head.weight`).
 * @throws {CheckpointError} When the weights are missing (a shard listed in the index is not
 * there) or a safetensors file or the index is damaged or unsupported.
 */
export function loadHuggingFaceCheckpoint(
  dir: string,
  options: { preferMmap?: boolean } = {},
): Checkpoint {
  const root = resolve(dir);
  const configPath = join(root, HF_CONFIG_FILE);
  if (!isFile(configPath)) {
    throw new ConfigError(`expected ${HF_CONFIG_FILE} in the model folder, found none`, {
      path: configPath,
      fix: DOWNLOAD_FIX,
    });
  }
  const config = parseHuggingFaceConfig(Deno.readTextFileSync(configPath), configPath);

  // One file, or the shards of the index (in file-name order: model-00001-of-0000n first).
  let shards: string[];
  let index = undefined;
  if (isFile(join(root, SAFETENSORS_FILE))) {
    shards = [join(root, SAFETENSORS_FILE)];
  } else if (isFile(join(root, SAFETENSORS_INDEX_FILE))) {
    const indexPath = join(root, SAFETENSORS_INDEX_FILE);
    index = parseSafetensorsIndex(Deno.readTextFileSync(indexPath), indexPath);
    shards = shardPaths(root, index).sort();
  } else {
    throw new CheckpointError(
      `expected ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE} in the model folder, found neither`,
      { path: root, fix: DOWNLOAD_FIX },
    );
  }

  const weights = WeightsMemory.open(shards, options);
  try {
    const headers = new Map<string, SafetensorsHeader>();
    for (const file of weights.files) {
      headers.set(basename(file.path), readSafetensors(file.bytes, file.path));
    }
    if (index !== undefined) checkShardContents(index, headers);

    const tied = hfTiedEmbeddings(config);
    const tensors = new Map<string, WeightTensor>();
    weights.files.forEach((file, i) => {
      for (const t of headers.get(basename(file.path))!.tensors.values()) {
        const name = metaTensorName(t.name) ?? t.name;
        if (name === "output.weight" && tied) continue; // tied: the embedding is the head
        if (tensors.has(name)) {
          throw new CheckpointError(
            `tensors "${tensors.get(name)!.sourceName}" and "${t.name}" both stand for "${name}"`,
            { path: shards[i], fix: DOWNLOAD_FIX },
          );
        }
        tensors.set(name, {
          name,
          sourceName: t.name,
          type: t.type,
          shape: t.shape,
          byteOffset: file.byteOffset + t.byteOffset,
          byteLength: t.byteLength,
        });
      }
    });
    checkAgainstConfig(tensors, config, tied, configPath);
    return new OpenCheckpoint(root, "huggingface", config, weights, tensors, "halves");
  } catch (error) {
    weights.close();
    throw error;
  }
}

/** Every tensor the model needs is there with the shape config.json implies, and no more. */
function checkAgainstConfig(
  tensors: ReadonlyMap<string, WeightTensor>,
  config: ModelConfig,
  tied: boolean,
  configPath: string,
): void {
  const fix = "use the config.json that came with these safetensors files";
  if (!tied && !tensors.has("output.weight")) {
    throw new ConfigError(
      `config.json disagrees with the tensors: "tie_word_embeddings" is false, but there is ` +
        `no lm_head.weight`,
      { path: configPath, fix: `${fix} (a model with tied embeddings says true)` },
    );
  }
  const present = countLayers(tensors, config.nLayers);
  if (present < config.nLayers) {
    throw new ConfigError(
      `config.json disagrees with the tensors: expected ${config.nLayers} layers ` +
        `("num_hidden_layers"), found tensors of ${present}: no tensor ` +
        `"${hfTensorName(`layers.${present}.attention.wq.weight`)}"`,
      { path: configPath, fix },
    );
  }
  for (const [name, shape] of expectedTensorShapes(config, tied)) {
    const tensor = tensors.get(name);
    const hfName = hfTensorName(name);
    if (tensor === undefined) {
      throw new ConfigError(
        `config.json disagrees with the tensors: expected "${hfName}" with shape ` +
          `[${shape.join(", ")}], found no such tensor`,
        { path: configPath, fix: `${fix} (num_hidden_layers = ${config.nLayers})` },
      );
    }
    if (tensor.shape.length !== shape.length || tensor.shape.some((n, i) => n !== shape[i])) {
      throw new ConfigError(
        `config.json disagrees with the tensors: expected "${hfName}" to have shape ` +
          `[${shape.join(", ")}], found [${tensor.shape.join(", ")}]`,
        { path: configPath, fix },
      );
    }
  }
}
