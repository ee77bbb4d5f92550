/**
 * Opens a Meta-format Llama 3 model folder: `params.json` (hyperparameters) and
 * `consolidated.00.pth` (weights). The `.pth` is memory-mapped and every tensor is a
 * zero-copy typed-array view into the mapping; shapes are checked against the config once,
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
 * const wq = checkpoint.tensor("layers.0.attention.wq.weight"); // bf16 [4096, 4096]
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import { type MappedFile, openMappedFile } from "../../ffi/mmap.ts";
import { CheckpointError, ConfigError } from "../errors.ts";
import { readPth } from "../formats/pth.ts";
import type { DType, DTypeArray } from "../tensor/dtype.ts";
import { type ModelConfig, parseModelConfig } from "./config.ts";

/** One weight tensor, viewed in place in the mapped checkpoint. */
export interface WeightTensor {
  /** Meta's name, e.g. `layers.0.attention.wq.weight`. */
  readonly name: string;
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions, outermost first (a weight matrix is `[out, in]`). */
  readonly shape: readonly number[];
  /** Offset of element 0 inside the mapped `.pth` file. */
  readonly byteOffset: number;
  /** Zero-copy view into the mapping; length = product of `shape`; row-major contiguous. */
  readonly data: DTypeArray;
}

/** An open model folder: its config and its weights. Close it (or `using` it) when done. */
export interface Checkpoint extends Disposable {
  /** The model folder (absolute path). */
  readonly dir: string;
  /** Validated hyperparameters from `params.json`. */
  readonly config: ModelConfig;
  /** The mapped `consolidated.00.pth`. */
  readonly file: MappedFile;
  /** Every tensor of the file by name, in file order, including ones the model does not use. */
  readonly tensors: ReadonlyMap<string, WeightTensor>;
  /** `true` when `output.weight` is absent and the output layer reuses `tok_embeddings.weight`. */
  readonly tiedEmbeddings: boolean;
  /** The tensor of that name; throws a CheckpointError naming it when absent. */
  tensor(name: string): WeightTensor;
  /** Unmaps the file; the tensors' views become empty. Idempotent. */
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
 * @param options `preferMmap: false` reads the file into memory instead of mapping it.
 * @returns The open checkpoint.
 * @throws {CheckpointError} When the folder or weights file is missing or corrupt, or a tensor
 * the model needs is absent.
 * @throws {ConfigError} When `params.json` is missing or invalid, or a tensor's shape disagrees
 * with it.
 */
export function loadCheckpoint(dir: string, options: { preferMmap?: boolean } = {}): Checkpoint {
  const root = resolve(dir);
  let isDir = false;
  try {
    isDir = Deno.statSync(root).isDirectory;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!isDir) {
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
  if (!exists(weightsPath)) {
    throw new CheckpointError(`expected ${WEIGHTS_FILE} in the model folder, found none`, {
      path: weightsPath,
      fix: DOWNLOAD_FIX,
    });
  }
  if (exists(join(root, "consolidated.01.pth"))) {
    throw new CheckpointError(
      "expected a single-shard checkpoint, found consolidated.01.pth too (a sharded model " +
        "such as 70B, which llama-bolts does not run)",
      { path: root, fix: "use Llama 3.1 8B or Llama 3.2 1B/3B" },
    );
  }

  const file = openMappedFile(weightsPath, options);
  try {
    const tensors: ReadonlyMap<string, WeightTensor> = readPth(file.buffer, weightsPath);
    checkShapes(tensors, config, weightsPath);
    return new OpenCheckpoint(root, config, file, tensors);
  } catch (error) {
    file.close();
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

/** Checks every tensor the model needs is present with the shape the config implies. */
function checkShapes(
  tensors: ReadonlyMap<string, WeightTensor>,
  config: ModelConfig,
  path: string,
): void {
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

class OpenCheckpoint implements Checkpoint {
  readonly tiedEmbeddings: boolean;

  constructor(
    readonly dir: string,
    readonly config: ModelConfig,
    readonly file: MappedFile,
    readonly tensors: ReadonlyMap<string, WeightTensor>,
  ) {
    this.tiedEmbeddings = !tensors.has("output.weight");
  }

  tensor(name: string): WeightTensor {
    const found = this.tensors.get(name);
    if (found === undefined) {
      throw new CheckpointError(`expected tensor "${name}" in the checkpoint, found none`, {
        path: this.file.path,
        fix: name === "output.weight" && this.tiedEmbeddings
          ? "this model ties its output layer to tok_embeddings.weight (see tiedEmbeddings)"
          : "check the tensor name (the info command lists them all)",
      });
    }
    return found;
  }

  close(): void {
    this.file.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
