/**
 * The TypeScript kernels for ggml's block types: a {@linkcode BlockMatrix} view over the
 * weights memory, a row widened to float32 by the type's decoder (`codecs.ts`), and `X (T, n)
 * @ W^T` as the readable reference: each weight row is decoded once into scratch, then dotted
 * with every token in float64, `j` ascending. The WebAssembly kernels are tested against it.
 *
 * @example
 * ```ts
 * import { blockMatrixView, multiplyBlocks } from "./matmul.ts";
 * import { quantizeMatrix } from "./codecs.ts";
 *
 * const bytes = quantizeMatrix("q8_0", new Float32Array(64).fill(1)); // 2 rows of 32
 * const m = blockMatrixView("q8_0", bytes.buffer, 0, 2, 32);
 * const out = new Float32Array(2);
 * multiplyBlocks(m, new Float32Array(32).fill(1), out, 2, 1, 0, 2, new Float32Array(32)); // [32, 32]
 * ```
 *
 * @module
 */

import { type BlockStorageType, storageBytes } from "../../tensor/storage.ts";
import type { BlockCodec } from "./codec.ts";
import { BLOCK_CODECS } from "./codecs.ts";

/** A row-major `(rows, cols)` matrix of blocks. */
export interface BlockMatrix {
  readonly type: BlockStorageType;
  readonly rows: number;
  readonly cols: number;
  /** The matrix's bytes. */
  readonly bytes: Uint8Array;
  /** Bytes of one row. */
  readonly rowBytes: number;
  /** Blocks of one row. */
  readonly rowBlocks: number;
  readonly codec: BlockCodec;
}

/**
 * Views `rows × cols` weights of `type` at `byteOffset` of `buffer`. No copy.
 *
 * @param type The block type.
 * @param buffer The bytes (the weights memory).
 * @param byteOffset Offset of row 0.
 * @param rows Rows.
 * @param cols Columns, a whole number of blocks.
 * @returns The view.
 */
export function blockMatrixView(
  type: BlockStorageType,
  buffer: ArrayBufferLike,
  byteOffset: number,
  rows: number,
  cols: number,
): BlockMatrix {
  const rowBytes = storageBytes(type, cols);
  const codec = BLOCK_CODECS[type];
  return {
    type,
    rows,
    cols,
    bytes: new Uint8Array(buffer, byteOffset, rows * rowBytes),
    rowBytes,
    rowBlocks: cols / codec.blockElements,
    codec,
  };
}

/**
 * Decodes row `row` of `m` into `out[outOffset ..]`.
 *
 * @param m The matrix.
 * @param row Row index.
 * @param out Destination (`cols` floats).
 * @param outOffset Where the row starts.
 */
export function readBlockRow(m: BlockMatrix, row: number, out: Float32Array, outOffset: number) {
  m.codec.dequantize(m.bytes, row * m.rowBytes, m.rowBlocks, out, outOffset);
}

/**
 * `out[t · outStride + r] = W[r, :] · X[t, :]` for `t < tokens`, `r` in `[rowStart, rowEnd)`,
 * where `X[t, j] = x[t · cols + j]`.
 *
 * @param m The weights.
 * @param x Inputs, `cols` floats per token.
 * @param out Outputs.
 * @param outStride Floats between tokens' rows in `out`.
 * @param tokens Tokens.
 * @param rowStart First row.
 * @param rowEnd One past the last row.
 * @param scratch At least `cols` floats.
 */
export function multiplyBlocks(
  m: BlockMatrix,
  x: Float32Array,
  out: Float32Array,
  outStride: number,
  tokens: number,
  rowStart: number,
  rowEnd: number,
  scratch: Float32Array,
): void {
  const n = m.cols;
  for (let r = rowStart; r < rowEnd; r++) {
    readBlockRow(m, r, scratch, 0);
    for (let t = 0; t < tokens; t++) {
      let s = 0;
      for (let j = 0, k = t * n; j < n; j++, k++) s += scratch[j] * x[k];
      out[t * outStride + r] = s;
    }
  }
}
