/**
 * The narrow seam between how a weight matrix is stored and what the kernels compute.
 *
 * A {@linkcode Matrix} is a row-major `[rows, cols]` view of weights in their stored type
 * (bf16, f16 or f32), never converted as a whole: each kernel widens elements to float32 as it
 * reads them. 16-bit matrices are also viewed as `Uint32Array` pairs (two elements per load)
 * when their bytes are 4-byte aligned and rows have an even length, which is always the case
 * for Llama checkpoints written by `torch.save` (64-byte aligned storages).
 *
 * @example
 * ```ts
 * import { matrixView } from "./matrix.ts";
 *
 * const bytes = new ArrayBuffer(2 * 3 * 2);
 * const m = matrixView("bf16", bytes, 0, 2, 3); // 2 rows of 3 bf16 elements
 * ```
 *
 * @module
 */

import { type FloatStorageType, storageBytes } from "../tensor/storage.ts";
import { BF16_TO_F32 } from "./bf16.ts";
import { F16_TO_F32 } from "./f16.ts";

/** A row-major weight matrix in its stored element type. */
export interface Matrix {
  /** Element type as stored. */
  readonly dtype: FloatStorageType;
  /** Number of rows (output features). */
  readonly rows: number;
  /** Number of columns (input features). */
  readonly cols: number;
  /** f32 elements, when `dtype` is `"f32"`. */
  readonly f32: Float32Array | null;
  /** 16-bit element bit patterns, when `dtype` is `"bf16"` or `"f16"`. */
  readonly halves: Uint16Array | null;
  /** The same 16-bit elements read two at a time (element 2k in the low half), when aligned. */
  readonly pairs: Uint32Array | null;
  /** bit pattern → float32 table for 16-bit types (`BF16_TO_F32` or `F16_TO_F32`). */
  readonly table: Float32Array | null;
}

/**
 * Views `rows × cols` elements of `dtype` at `byteOffset` of `buffer` as a matrix. No copy.
 *
 * @param dtype Stored element type.
 * @param buffer The bytes (a mapped file, or any buffer).
 * @param byteOffset Offset of element [0, 0]; a multiple of the element size.
 * @param rows Number of rows.
 * @param cols Number of columns.
 * @returns The view.
 */
export function matrixView(
  dtype: FloatStorageType,
  buffer: ArrayBufferLike,
  byteOffset: number,
  rows: number,
  cols: number,
): Matrix {
  const length = rows * cols;
  // The kernels compute element indices with int32 arithmetic (`(i + c) | 0`).
  if (length > 0x7fffffff) {
    throw new RangeError(`expected a matrix of at most 2^31 - 1 elements, found ${rows} × ${cols}`);
  }
  if (dtype === "f32") {
    return {
      dtype,
      rows,
      cols,
      f32: new Float32Array(buffer, byteOffset, length),
      halves: null,
      pairs: null,
      table: null,
    };
  }
  const aligned = byteOffset % 4 === 0 && cols % 2 === 0;
  return {
    dtype,
    rows,
    cols,
    f32: null,
    halves: new Uint16Array(buffer, byteOffset, length),
    pairs: aligned ? new Uint32Array(buffer, byteOffset, length / 2) : null,
    table: dtype === "bf16" ? BF16_TO_F32 : F16_TO_F32,
  };
}

/**
 * Views a typed array (e.g. a checkpoint tensor's `data`) as a matrix. No copy.
 *
 * @param dtype Element type of `data`.
 * @param data `Uint16Array` for bf16/f16, `Float32Array` for f32.
 * @param rows Number of rows.
 * @param cols Number of columns.
 * @returns The view.
 */
export function matrixOf(
  dtype: FloatStorageType,
  data: Uint16Array | Float32Array,
  rows: number,
  cols: number,
): Matrix {
  if (data.BYTES_PER_ELEMENT !== storageBytes(dtype, 1)) {
    throw new TypeError(`expected ${storageBytes(dtype, 1)}-byte elements for ${dtype}`);
  }
  return matrixView(dtype, data.buffer, data.byteOffset, rows, cols);
}

/**
 * Widens row `row` of `m` to float32: `out[outOffset + j] = m[row, j]`.
 *
 * @param out Destination.
 * @param outOffset Where the row starts in `out`.
 * @param m The matrix.
 * @param row Row index.
 */
export function readRow(out: Float32Array, outOffset: number, m: Matrix, row: number): void {
  const n = m.cols;
  const start = row * n;
  if (m.f32 !== null) {
    out.set(m.f32.subarray(start, start + n), outOffset);
    return;
  }
  const halves = m.halves!, table = m.table!;
  for (let j = 0; j < n; j++) out[outOffset + j] = table[halves[start + j]];
}
