/**
 * What every ggml block type provides to the rest of llama-bolts: a decoder (blocks → float32,
 * the definition the kernels are tested against) and a reference quantizer (float32 → blocks,
 * for `convert` and for tests), plus the float16 helpers the block scales need.
 *
 * A block type packs `blockElements` consecutive weights of a row into `blockBytes` bytes
 * (`lib/tensor/storage.ts`); a row is a whole number of blocks, stored one after another.
 *
 * @example
 * ```ts
 * import { readHalf, writeHalf } from "./codec.ts";
 *
 * const bytes = new Uint8Array(2);
 * writeHalf(bytes, 0, 0.5);
 * readHalf(bytes, 0); // 0.5
 * ```
 *
 * @module
 */

import type { BlockStorageType } from "../../tensor/storage.ts";
import { F16_TO_F32 } from "../f16.ts";

/** One block type's decoder and reference quantizer. */
export interface BlockCodec {
  readonly type: BlockStorageType;
  /** Weights per block. */
  readonly blockElements: number;
  /** Bytes per block. */
  readonly blockBytes: number;
  /**
   * Decodes `blocks` consecutive blocks at `bytes[at ..]` into `out[outOffset ..]`
   * (`blocks · blockElements` floats), exactly as ggml's `dequantize_row_*` does.
   */
  dequantize(
    bytes: Uint8Array,
    at: number,
    blocks: number,
    out: Float32Array,
    outOffset: number,
  ): void;
  /**
   * Quantizes `x` (a whole number of blocks) into `out[outOffset ..]`: round-to-nearest for the
   * 32-weight types, as ggml's `quantize_row_*_ref`; a search for each sub-block's scale (and
   * minimum) for the K-quants.
   */
  quantize(x: Float32Array, out: Uint8Array, outOffset: number): void;
}

/**
 * The float16 at `bytes[at]` (little-endian), as a number.
 *
 * @param bytes The bytes.
 * @param at Byte offset.
 * @returns Its exact value.
 */
export function readHalf(bytes: Uint8Array, at: number): number {
  return F16_TO_F32[bytes[at] | (bytes[at + 1] << 8)];
}

const half = new Float16Array(1);
const halfBits = new Uint16Array(half.buffer);

/**
 * Writes `value` rounded to the nearest float16 (ties to even, as ggml's `GGML_FP32_TO_FP16`)
 * at `bytes[at]`, little-endian.
 *
 * @param bytes The bytes.
 * @param at Byte offset.
 * @param value The value.
 * @returns The value as stored.
 */
export function writeHalf(bytes: Uint8Array, at: number, value: number): number {
  half[0] = value;
  bytes[at] = halfBits[0] & 0xff;
  bytes[at + 1] = halfBits[0] >> 8;
  return half[0];
}

/**
 * C's `roundf`: to the nearest integer, halves away from zero (`Math.round` sends −2.5 to −2).
 *
 * @param v A number.
 * @returns The rounded integer.
 */
export function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/**
 * ggml's `nearest_int`: to the nearest integer, halves to even (what its float trick does).
 *
 * @param v A number.
 * @returns The rounded integer.
 */
export function nearestInt(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/**
 * The entry of `x` with the largest magnitude, with its sign (the first one on ties).
 *
 * @param x Values.
 * @param start First index.
 * @param end One past the last index.
 * @returns That value (0 for an empty or all-zero range).
 */
export function signedMax(x: Float32Array, start: number, end: number): number {
  let amax = 0, max = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(x[i]);
    if (amax < a) {
      amax = a;
      max = x[i];
    }
  }
  return max;
}
