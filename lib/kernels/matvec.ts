/**
 * Matrix × vector: `W (d, n) @ x (n,) -> out (d,)`, for the rows `[rowStart, rowEnd)` one worker
 * owns.
 *
 * By far the most time of a decode step is spent in these loops: every weight of the model is
 * read once per token, so they run at the speed memory delivers bytes. They are plain loops over
 * typed arrays, one function per storage type so that each call site stays monomorphic, and
 * they read 4 rows at once so each loaded `x` element is used 4 times. For 16-bit weights, each
 * 32-bit load brings two elements and a 65536-entry table widens them (`bench/matvec_bench.ts`
 * measures the alternatives: that is ~1.8× faster than one element per load, and as fast as
 * shifting bits through a Float32Array alias). Index arithmetic in the hot loops is written
 * `(i + c) | 0` so that V8 keeps it in int32 without overflow checks (≈5% faster here; indices
 * stay below 2^31 because `matrixView` refuses larger matrices).
 *
 * Every output element is one sequential sum `Σ_j W[r, j] · x[j]` for `j = 0, 1, …, n-1` in a
 * JavaScript number (float64), rounded to float32 once when stored. `matmul.ts` sums in the
 * same order, so one token through `matMul` gives bit-identical results to `matVec`.
 *
 * @example
 * ```ts
 * import { matrixOf } from "./matrix.ts";
 * import { matVec } from "./matvec.ts";
 *
 * const w = matrixOf("f32", new Float32Array([1, 2, 3, 4]), 2, 2);
 * const out = new Float32Array(2);
 * matVec(out, 0, w, new Float32Array([1, 1]), 0, 0, 2); // out = [3, 7]
 * ```
 *
 * @module
 */

import type { Matrix } from "./matrix.ts";

/**
 * `out[outOffset + r] = W[r, :] · x[xOffset .. xOffset + n)` for `r` in `[rowStart, rowEnd)`,
 * whatever the storage type of `w`.
 *
 * @param out Output vector (float32).
 * @param outOffset Index of output row 0 in `out`.
 * @param w The weight matrix `(d, n)`.
 * @param x Input vector (float32).
 * @param xOffset Index of `x[0]`.
 * @param rowStart First row to compute.
 * @param rowEnd One past the last row to compute.
 */
export function matVec(
  out: Float32Array,
  outOffset: number,
  w: Matrix,
  x: Float32Array,
  xOffset: number,
  rowStart: number,
  rowEnd: number,
): void {
  if (w.f32 !== null) {
    matVecF32(out, outOffset, w.f32, x, xOffset, w.cols, rowStart, rowEnd);
  } else if (w.pairs !== null) {
    matVecPairs(w.table!, out, outOffset, w.pairs, x, xOffset, w.cols, rowStart, rowEnd);
  } else {
    matVecHalves(w.table!, out, outOffset, w.halves!, x, xOffset, w.cols, rowStart, rowEnd);
  }
}

/**
 * The hot loop for bf16 and f16 weights: `W (d, n) @ x (n,) -> out (d,)`, rows
 * `[rowStart, rowEnd)`. Each 32-bit load brings two 16-bit elements (element `2k` in the low
 * half on little-endian machines); `table` widens a bit pattern to float32.
 *
 * @param table `BF16_TO_F32` or `F16_TO_F32`.
 * @param out Output vector.
 * @param outOffset Index of output row 0 in `out`.
 * @param pairs The matrix as 32-bit words, `n / 2` per row (`n` even).
 * @param x Input vector.
 * @param xOffset Index of `x[0]`.
 * @param n Columns.
 * @param rowStart First row.
 * @param rowEnd One past the last row.
 */
export function matVecPairs(
  table: Float32Array,
  out: Float32Array,
  outOffset: number,
  pairs: Uint32Array,
  x: Float32Array,
  xOffset: number,
  n: number,
  rowStart: number,
  rowEnd: number,
): void {
  const words = n >> 1;
  const xEnd = xOffset + n;
  const xEnd4 = xOffset + (n & ~3); // columns in whole groups of 4
  let r = rowStart;
  for (; r + 4 <= rowEnd; r += 4) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let k0 = r * words;
    let k1 = k0 + words, k2 = k1 + words, k3 = k2 + words;
    // 4 columns per step: two words of each row against the same 4 x values.
    for (let j = xOffset; j < xEnd4; j = (j + 4) | 0) {
      const x0 = x[j], x1 = x[(j + 1) | 0], x2 = x[(j + 2) | 0], x3 = x[(j + 3) | 0];
      let a = pairs[k0], b = pairs[(k0 + 1) | 0];
      s0 += table[a & 0xffff] * x0;
      s0 += table[a >>> 16] * x1;
      s0 += table[b & 0xffff] * x2;
      s0 += table[b >>> 16] * x3;
      a = pairs[k1], b = pairs[(k1 + 1) | 0];
      s1 += table[a & 0xffff] * x0;
      s1 += table[a >>> 16] * x1;
      s1 += table[b & 0xffff] * x2;
      s1 += table[b >>> 16] * x3;
      a = pairs[k2], b = pairs[(k2 + 1) | 0];
      s2 += table[a & 0xffff] * x0;
      s2 += table[a >>> 16] * x1;
      s2 += table[b & 0xffff] * x2;
      s2 += table[b >>> 16] * x3;
      a = pairs[k3], b = pairs[(k3 + 1) | 0];
      s3 += table[a & 0xffff] * x0;
      s3 += table[a >>> 16] * x1;
      s3 += table[b & 0xffff] * x2;
      s3 += table[b >>> 16] * x3;
      k0 = (k0 + 2) | 0;
      k1 = (k1 + 2) | 0;
      k2 = (k2 + 2) | 0;
      k3 = (k3 + 2) | 0;
    }
    if (xEnd4 < xEnd) {
      // n = 4m + 2: one word left per row.
      const x0 = x[xEnd4], x1 = x[xEnd4 + 1];
      const a = pairs[k0], b = pairs[k1], c = pairs[k2], d = pairs[k3];
      s0 += table[a & 0xffff] * x0;
      s0 += table[a >>> 16] * x1;
      s1 += table[b & 0xffff] * x0;
      s1 += table[b >>> 16] * x1;
      s2 += table[c & 0xffff] * x0;
      s2 += table[c >>> 16] * x1;
      s3 += table[d & 0xffff] * x0;
      s3 += table[d >>> 16] * x1;
    }
    out[outOffset + r] = s0;
    out[outOffset + r + 1] = s1;
    out[outOffset + r + 2] = s2;
    out[outOffset + r + 3] = s3;
  }
  for (; r < rowEnd; r++) {
    let s = 0;
    let k = r * words;
    for (let j = xOffset; j < xEnd; j += 2) {
      const a = pairs[k++];
      s += table[a & 0xffff] * x[j];
      s += table[a >>> 16] * x[j + 1];
    }
    out[outOffset + r] = s;
  }
}

/**
 * 16-bit weights one element at a time: the fallback when the matrix is not 4-byte aligned or
 * rows have an odd length. Same sums, in the same order, as {@linkcode matVecPairs}.
 *
 * @param table `BF16_TO_F32` or `F16_TO_F32`.
 * @param out Output vector.
 * @param outOffset Index of output row 0 in `out`.
 * @param halves The matrix's 16-bit elements, `n` per row.
 * @param x Input vector.
 * @param xOffset Index of `x[0]`.
 * @param n Columns.
 * @param rowStart First row.
 * @param rowEnd One past the last row.
 */
export function matVecHalves(
  table: Float32Array,
  out: Float32Array,
  outOffset: number,
  halves: Uint16Array,
  x: Float32Array,
  xOffset: number,
  n: number,
  rowStart: number,
  rowEnd: number,
): void {
  for (let r = rowStart; r < rowEnd; r++) {
    let s = 0;
    let k = r * n;
    for (let j = xOffset, end = xOffset + n; j < end; j++) s += table[halves[k++]] * x[j];
    out[outOffset + r] = s;
  }
}

/**
 * f32 weights: `W (d, n) @ x (n,) -> out (d,)`, rows `[rowStart, rowEnd)`, 4 rows at a time.
 *
 * @param out Output vector.
 * @param outOffset Index of output row 0 in `out`.
 * @param w The matrix, `n` floats per row.
 * @param x Input vector.
 * @param xOffset Index of `x[0]`.
 * @param n Columns.
 * @param rowStart First row.
 * @param rowEnd One past the last row.
 */
export function matVecF32(
  out: Float32Array,
  outOffset: number,
  w: Float32Array,
  x: Float32Array,
  xOffset: number,
  n: number,
  rowStart: number,
  rowEnd: number,
): void {
  const xEnd = xOffset + n;
  let r = rowStart;
  for (; r + 4 <= rowEnd; r += 4) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let k0 = r * n;
    let k1 = k0 + n, k2 = k1 + n, k3 = k2 + n;
    for (let j = xOffset; j < xEnd; j = (j + 1) | 0) {
      const xj = x[j];
      s0 += w[k0] * xj;
      s1 += w[k1] * xj;
      s2 += w[k2] * xj;
      s3 += w[k3] * xj;
      k0 = (k0 + 1) | 0;
      k1 = (k1 + 1) | 0;
      k2 = (k2 + 1) | 0;
      k3 = (k3 + 1) | 0;
    }
    out[outOffset + r] = s0;
    out[outOffset + r + 1] = s1;
    out[outOffset + r + 2] = s2;
    out[outOffset + r + 3] = s3;
  }
  for (; r < rowEnd; r++) {
    let s = 0;
    let k = r * n;
    for (let j = xOffset; j < xEnd; j++) s += w[k++] * x[j];
    out[outOffset + r] = s;
  }
}
