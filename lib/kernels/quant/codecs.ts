/**
 * Every ggml block type's codec, by storage type: the one table the rest of llama-bolts looks
 * block types up in (the TypeScript kernels, `convert`, the tests). Keyed by every
 * {@linkcode BlockStorageType}, so a block type added to `lib/tensor/storage.ts` without a
 * codec does not compile.
 *
 * @example
 * ```ts
 * import { BLOCK_CODECS } from "./codecs.ts";
 *
 * const codec = BLOCK_CODECS.q4_0;
 * const bytes = new Uint8Array(codec.blockBytes);
 * codec.quantize(new Float32Array(32), bytes, 0);
 * ```
 *
 * @module
 */

import type { BlockStorageType } from "../../tensor/storage.ts";
import type { BlockCodec } from "./codec.ts";
import { Q4_0 } from "./q4_0.ts";
import { Q4_K } from "./q4_k.ts";
import { Q5_0 } from "./q5_0.ts";
import { Q5_K } from "./q5_k.ts";
import { Q6_K } from "./q6_k.ts";
import { Q8_0 } from "./q8_0.ts";

/** Each block type's decoder and reference quantizer. */
export const BLOCK_CODECS: { readonly [T in BlockStorageType]: BlockCodec } = {
  q8_0: Q8_0,
  q4_0: Q4_0,
  q5_0: Q5_0,
  q4_k: Q4_K,
  q5_k: Q5_K,
  q6_k: Q6_K,
};

/**
 * Quantizes a row-major `(rows, cols)` float32 matrix to `type` (`cols` a whole number of
 * blocks).
 *
 * @param type The block type.
 * @param x The floats.
 * @returns The blocks, row after row.
 */
export function quantizeMatrix(type: BlockStorageType, x: Float32Array): Uint8Array {
  const codec = BLOCK_CODECS[type];
  if (x.length % codec.blockElements !== 0) {
    throw new RangeError(
      `expected a whole number of ${type} blocks of ${codec.blockElements}, found ${x.length}`,
    );
  }
  const out = new Uint8Array((x.length / codec.blockElements) * codec.blockBytes);
  codec.quantize(x, out, 0);
  return out;
}

/**
 * Decodes blocks of `type` to float32.
 *
 * @param type The block type.
 * @param bytes Whole blocks.
 * @returns Their floats.
 */
export function dequantizeBlocks(type: BlockStorageType, bytes: Uint8Array): Float32Array {
  const codec = BLOCK_CODECS[type];
  const blocks = Math.floor(bytes.length / codec.blockBytes);
  const out = new Float32Array(blocks * codec.blockElements);
  codec.dequantize(bytes, 0, blocks, out, 0);
  return out;
}
