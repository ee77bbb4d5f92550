/**
 * Opens a Meta-format Llama 3 model folder: `params.json` (hyperparameters) and
 * `consolidated.00.pth` (weights), into the format-neutral {@linkcode Checkpoint} the engine
 * runs. The `.pth` is placed in a WebAssembly memory ({@linkcode WeightsMemory}: mapped, not
 * copied) and every tensor is an address in it; shapes are checked against the config once,
 * here, so the model code can trust them.
 *
 * Tensor names follow Meta's reference: `tok_embeddings.weight`, `layers.{i}.attention.wq.weight`
 * (also `wk`, `wv`, `wo`), `layers.{i}.feed_forward.w1.weight` (also `w2`, `w3`),
 * `layers.{i}.attention_norm.weight`, `layers.{i}.ffn_norm.weight`, `norm.weight` and
 * `output.weight`, which Llama 3.2 omits because it reuses the embedding (tied embeddings).
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "./checkpoint.ts";
 *
 * using checkpoint = loadCheckpoint("/home/me/.llama/checkpoints/Llama3.1-8B-Instruct");
 * const wq = checkpoint.tensor("layers.0.attention.wq.weight"); // { type: "bf16", shape: [4096, 4096], … }
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import { CheckpointError, ConfigError } from "../errors.ts";
import { isDirectory, pathExists } from "../files.ts";
import { readPth } from "../formats/pth.ts";
import type { MatrixRef } from "../kernels/backend.ts";
import { readFloats } from "../kernels/ts_backend.ts";
import { storageBytes, type StorageType } from "../tensor/storage.ts";
import { WeightsMemory } from "../tensor/weights_memory.ts";
import { type ModelConfig, parseModelConfig } from "./config.ts";

/** One weight tensor, in place in the weights memory. */
export interface WeightTensor {
  /** Meta's name, e.g. `layers.0.attention.wq.weight`, whatever the file calls it. */
  readonly name: string;
  /** The name in the file (the same for Meta's checkpoints). */
  readonly sourceName: string;
  /** Storage type. */
  readonly type: StorageType;
  /** Dimensions, outermost first (a weight matrix is `[rows (out), cols (in)]`). */
  readonly shape: readonly number[];
  /** Where its first byte lies in the weights memory. */
  readonly byteOffset: number;
  /** Its size in bytes. */
  readonly byteLength: number;
}

/**
 * A tensor as a matrix of the weights memory: `[rows, cols]`, or one row for a 1-D tensor.
 *
 * @param tensor The tensor.
 * @returns Its matrix reference.
 */
export function matrixOfTensor(tensor: WeightTensor): MatrixRef {
  const [rows, cols] = tensor.shape.length === 1 ? [1, tensor.shape[0]] : tensor.shape;
  return { type: tensor.type, byteOffset: tensor.byteOffset, rows, cols };
}

/**
 * A tensor's values widened to float32 (a copy; for norms, tests and tools).
 *
 * @param checkpoint The open checkpoint.
 * @param name The tensor's name.
 * @returns Its elements in row-major order.
 */
export function tensorFloats(checkpoint: Checkpoint, name: string): Float32Array {
  return readFloats(checkpoint.weights.buffer, matrixOfTensor(checkpoint.tensor(name)));
}

/** The file formats a checkpoint can come from. */
export type CheckpointFormat = "meta" | "huggingface" | "gguf";

/**
 * An open model: its config and its weights, whatever format they came from. The engine reads
 * only this. Close it (or `using` it) when done.
 */
export interface Checkpoint extends Disposable {
  /** The model folder or file (absolute path). */
  readonly path: string;
  /** What it was read from. */
  readonly format: CheckpointFormat;
  /** Validated hyperparameters. */
  readonly config: ModelConfig;
  /** The model's files, inside one WebAssembly memory. */
  readonly weights: WeightsMemory;
  /** Every tensor by Meta's name, in file order, including ones the model does not use. */
  readonly tensors: ReadonlyMap<string, WeightTensor>;
  /** `true` when `output.weight` is absent and the output layer reuses `tok_embeddings.weight`. */
  readonly tiedEmbeddings: boolean;
  /**
   * How query and key rows pair the dimensions RoPE rotates: Meta's interleaved pairs
   * `(2i, 2i + 1)`, or Hugging Face's halves `(i, i + headDim / 2)`.
   */
  readonly ropeLayout: "interleaved" | "halves";
  /** The tensor of that name; throws a CheckpointError naming it when absent. */
  tensor(name: string): WeightTensor;
  /** Releases the weights. Idempotent. Stop the model's workers first. */
  close(): void;
}

/** File names inside a Meta model folder. */
export const PARAMS_FILE = "params.json";
/** The single weights shard of the 1B, 3B and 8B models. */
export const WEIGHTS_FILE = "consolidated.00.pth";

const DOWNLOAD_FIX = "download the model with `llama model download --source meta --model-id " +
  "Llama3.1-8B-Instruct`, or pass --model <folder with params.json and consolidated.00.pth>";

/**
 * Opens a model folder: parses `params.json`, maps `consolidated.00.pth`, reads its tensors and
 * checks their shapes against the config.
 *
 * @param dir Folder holding `params.json` and `consolidated.00.pth`.
 * @param options `preferMmap: false` copies the file into memory instead of mapping it.
 * @returns The open checkpoint.
 * @throws {CheckpointError} When the folder or weights file is missing or corrupt, or a tensor
 * the model needs is absent.
 * @throws {ConfigError} When `params.json` is missing or invalid, or a tensor's shape disagrees
 * with it.
 */
export function loadCheckpoint(dir: string, options: { preferMmap?: boolean } = {}): Checkpoint {
  const root = resolve(dir);
  if (!isDirectory(root)) {
    throw new CheckpointError("expected a model folder, found nothing there", {
      path: root,
      fix: DOWNLOAD_FIX,
    });
  }

  const paramsPath = join(root, PARAMS_FILE);
  let paramsText: string;
  try {
    paramsText = Deno.readTextFileSync(paramsPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new ConfigError(`expected ${PARAMS_FILE} in the model folder, found none`, {
      path: paramsPath,
      fix: DOWNLOAD_FIX,
    });
  }
  const config = parseModelConfig(paramsText, paramsPath);

  const weightsPath = join(root, WEIGHTS_FILE);
  if (!pathExists(weightsPath)) {
    throw new CheckpointError(`expected ${WEIGHTS_FILE} in the model folder, found none`, {
      path: weightsPath,
      fix: DOWNLOAD_FIX,
    });
  }
  if (pathExists(join(root, "consolidated.01.pth"))) {
    throw new CheckpointError(
      "expected a single-shard checkpoint, found consolidated.01.pth too (a sharded model " +
        "such as 70B, which llama-bolts does not run)",
      { path: root, fix: "use Llama 3.1 8B or Llama 3.2 1B/3B" },
    );
  }

  const weights = WeightsMemory.open([weightsPath], options);
  try {
    const file = weights.files[0];
    const tensors = new Map<string, WeightTensor>();
    for (const t of readPth(file.bytes, weightsPath).values()) {
      const byteLength = storageBytes(t.dtype, t.shape.reduce((a, b) => a * b, 1));
      tensors.set(t.name, {
        name: t.name,
        sourceName: t.name,
        type: t.dtype,
        shape: t.shape,
        byteOffset: file.byteOffset + t.byteOffset,
        byteLength,
      });
    }
    checkShapes(tensors, config, weightsPath);
    return new OpenCheckpoint(root, "meta", config, weights, tensors, "interleaved");
  } catch (error) {
    weights.close();
    throw error;
  }
}

/**
 * The tensors a Llama 3 model needs and their shapes, in Meta's order.
 *
 * @param config The model's config.
 * @param tied Leave out `output.weight` (tied embeddings).
 * @returns `[name, shape]` pairs.
 */
export function expectedTensorShapes(
  config: ModelConfig,
  tied: boolean,
): Array<[string, number[]]> {
  const { dim, vocabSize, nHeads, headDim, kvDim, hiddenDim } = config;
  const shapes: Array<[string, number[]]> = [["tok_embeddings.weight", [vocabSize, dim]]];
  for (let i = 0; i < config.nLayers; i++) {
    const layer = `layers.${i}`;
    shapes.push(
      [`${layer}.attention.wq.weight`, [nHeads * headDim, dim]],
      [`${layer}.attention.wk.weight`, [kvDim, dim]],
      [`${layer}.attention.wv.weight`, [kvDim, dim]],
      [`${layer}.attention.wo.weight`, [dim, nHeads * headDim]],
      [`${layer}.feed_forward.w1.weight`, [hiddenDim, dim]],
      [`${layer}.feed_forward.w2.weight`, [dim, hiddenDim]],
      [`${layer}.feed_forward.w3.weight`, [hiddenDim, dim]],
      [`${layer}.attention_norm.weight`, [dim]],
      [`${layer}.ffn_norm.weight`, [dim]],
    );
  }
  shapes.push(["norm.weight", [dim]]);
  if (!tied) shapes.push(["output.weight", [vocabSize, dim]]);
  return shapes;
}

/**
 * Checks that every tensor the model needs is present with the shape the config implies.
 * Format loaders call it once their tensors carry Meta's names.
 *
 * @param tensors Tensors by Meta's name.
 * @param config The model's config.
 * @param path The file, for errors.
 * @throws {CheckpointError} When a tensor is missing.
 * @throws {ConfigError} When a tensor's shape disagrees with the config.
 */
export function checkShapes(
  tensors: ReadonlyMap<string, WeightTensor>,
  config: ModelConfig,
  path: string,
): void {
  // Count the layers present first: a config with a million layers must not make a million
  // layers' names before it says the first one is missing.
  const present = countLayers(tensors, config.nLayers);
  if (present < config.nLayers) {
    throw new CheckpointError(
      `expected ${config.nLayers} layers (params.json's n_layers), found tensors of ${present}: ` +
        `no tensor "layers.${present}.attention.wq.weight"`,
      { path, fix: "check that params.json belongs to this checkpoint (n_layers)" },
    );
  }
  const tied = !tensors.has("output.weight");
  for (const [name, shape] of expectedTensorShapes(config, tied)) {
    const tensor = tensors.get(name);
    if (tensor === undefined) {
      throw new CheckpointError(
        `expected tensor "${name}" with shape [${shape.join(", ")}], found no such tensor`,
        { path, fix: "check that params.json belongs to this checkpoint (n_layers)" },
      );
    }
    if (
      tensor.shape.length !== shape.length || tensor.shape.some((n, i) => n !== shape[i])
    ) {
      throw new ConfigError(
        `tensor "${name}" disagrees with params.json: expected shape [${shape.join(", ")}], ` +
          `found [${tensor.shape.join(", ")}]`,
        { path, fix: "use the params.json that came with this checkpoint" },
      );
    }
  }
}

/**
 * How many layers a checkpoint holds, counted by their query weights `layers.{i}.attention.wq`
 * from 0 up, stopping at `upTo`: what a config's layer count is checked against before any
 * per-layer work.
 *
 * @param tensors Tensors by Meta's name.
 * @param upTo Count no further (the config's layer count).
 * @returns The number of consecutive layers present, at most `upTo`.
 */
export function countLayers(tensors: ReadonlyMap<string, unknown>, upTo: number): number {
  let present = 0;
  while (present < upTo && tensors.has(`layers.${present}.attention.wq.weight`)) present++;
  return present;
}

/** A checkpoint over tensors some loader read; format loaders construct it. */
export class OpenCheckpoint implements Checkpoint {
  readonly tiedEmbeddings: boolean;

  constructor(
    readonly path: string,
    readonly format: CheckpointFormat,
    readonly config: ModelConfig,
    readonly weights: WeightsMemory,
    readonly tensors: ReadonlyMap<string, WeightTensor>,
    readonly ropeLayout: "interleaved" | "halves",
  ) {
    this.tiedEmbeddings = !tensors.has("output.weight");
  }

  tensor(name: string): WeightTensor {
    const found = this.tensors.get(name);
    if (found === undefined) {
      throw new CheckpointError(`expected tensor "${name}" in the checkpoint, found none`, {
        path: this.path,
        fix: name === "output.weight" && this.tiedEmbeddings
          ? "this model ties its output layer to tok_embeddings.weight (see tiedEmbeddings)"
          : "check the tensor name (the info command lists them all)",
      });
    }
    return found;
  }

  close(): void {
    this.weights.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
