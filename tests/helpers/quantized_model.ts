/**
 * A checkpoint whose matrices are quantized in memory, for testing the forward pass on ggml's
 * block types without a GGUF file: every 2-D weight of an open checkpoint is read as floats,
 * quantized with the reference quantizer of the chosen type (`lib/kernels/quant/`), and
 * written with the float32 norms into one temporary file that a new `WeightsMemory` holds.
 * The same helper writes the **reference** twin: the quantized matrices decoded back to
 * float32, so that a float32 run of the model sees exactly the weights the blocks hold.
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "../../lib/model/checkpoint.ts";
 * import { quantizedCheckpoint } from "./quantized_model.ts";
 *
 * using source = loadCheckpoint("tests/fixtures/golden/tied");
 * using q4 = quantizedCheckpoint(source, () => "q4_0");
 * using reference = quantizedCheckpoint(source, () => "q4_0", { decoded: true });
 * ```
 *
 * @module
 */

import { dequantizeBlocks, quantizeMatrix } from "../../lib/kernels/quant/codecs.ts";
import {
  type Checkpoint,
  OpenCheckpoint,
  tensorFloats,
  type WeightTensor,
} from "../../lib/model/checkpoint.ts";
import { type BlockStorageType, STORAGE, storageBytes } from "../../lib/tensor/storage.ts";
import { WeightsMemory } from "../../lib/tensor/weights_memory.ts";

/** Options of {@linkcode quantizedCheckpoint}. */
export interface QuantizeOptions {
  /** Store the decoded floats (f32) instead of the blocks: the reference run's weights. */
  readonly decoded?: boolean;
  /** Changes the blocks of one tensor before they are stored (for negative controls). */
  readonly corrupt?: (name: string, type: BlockStorageType, bytes: Uint8Array) => void;
}

/**
 * A copy of `source` with its matrices quantized.
 *
 * @param source An open checkpoint.
 * @param typeOf The block type for each 2-D tensor (`null`: keep it as float32).
 * @param options Decoded reference, corruption.
 * @returns The new checkpoint; close it when done (its temporary file is already removed).
 */
export function quantizedCheckpoint(
  source: Checkpoint,
  typeOf: (name: string, shape: readonly number[]) => BlockStorageType | null,
  options: QuantizeOptions = {},
): Checkpoint {
  const parts: { tensor: Omit<WeightTensor, "byteOffset">; bytes: Uint8Array; at: number }[] = [];
  let size = 0;
  for (const t of source.tensors.values()) {
    const floats = tensorFloats(source, t.name);
    const type = t.shape.length === 2 ? typeOf(t.name, t.shape) : null;
    let bytes: Uint8Array;
    let stored: WeightTensor["type"] = "f32";
    if (type === null || t.shape[1] % STORAGE[type].blockElements !== 0) {
      bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
    } else {
      bytes = quantizeMatrix(type, floats);
      options.corrupt?.(t.name, type, bytes);
      if (options.decoded) {
        const decoded = dequantizeBlocks(type, bytes);
        bytes = new Uint8Array(decoded.buffer);
      } else {
        stored = type;
      }
    }
    const at = Math.ceil(size / 64) * 64;
    parts.push({
      tensor: {
        name: t.name,
        sourceName: t.sourceName,
        type: stored,
        shape: t.shape,
        byteLength: bytes.length,
      },
      bytes,
      at,
    });
    size = at + bytes.length;
  }
  const blob = new Uint8Array(size);
  for (const p of parts) blob.set(p.bytes, p.at);
  const path = Deno.makeTempFileSync({ suffix: ".weights" });
  try {
    Deno.writeFileSync(path, blob);
    const weights = WeightsMemory.open([path], { preferMmap: false });
    const base = weights.files[0].byteOffset;
    const tensors = new Map<string, WeightTensor>();
    for (const p of parts) {
      const byteLength = p.tensor.shape.length === 2
        ? p.tensor.shape[0] * storageBytes(p.tensor.type, p.tensor.shape[1])
        : p.tensor.byteLength;
      tensors.set(p.tensor.name, { ...p.tensor, byteOffset: base + p.at, byteLength });
    }
    return new OpenCheckpoint(
      source.path,
      source.format,
      source.config,
      weights,
      tensors,
      source.ropeLayout,
    );
  } finally {
    Deno.removeSync(path);
  }
}
