/**
 * Matrix × matrix for prefill: `X (T, n) @ W^T (n, d) -> out (T, d)`, for the weight rows
 * `[rowStart, rowEnd)` one worker owns.
 *
 * Prefill runs all prompt tokens through each weight matrix in one pass, so each weight is read
 * from memory once for the whole batch instead of once per token. The loop takes
 * {@linkcode MATMUL_ROWS} weight rows at a time, widens them to float32 once into `scratch`
 * (small enough to stay in L1/L2), then runs every token of the batch against them.
 *
 * Each output element is the same sequential float64 sum as in `matvec.ts`
 * (`Σ_j W[r, j] · X[t, j]`, `j` ascending, rounded to float32 once), so a batched prefill gives
 * bit-identical activations to feeding the tokens one at a time.
 *
 * @example
 * ```ts
 * import { matrixOf } from "./matrix.ts";
 * import { MATMUL_ROWS, matMul } from "./matmul.ts";
 *
 * const w = matrixOf("f32", new Float32Array([1, 2, 3, 4]), 2, 2); // (d=2, n=2)
 * const x = new Float32Array([1, 1, 1, 0]); // two tokens
 * const out = new Float32Array(4);
 * matMul(out, 0, 2, w, x, 0, 2, 0, 2, new Float32Array(MATMUL_ROWS * 2)); // [3, 7, 1, 3]
 * ```
 *
 * @module
 */

import type { Matrix } from "./matrix.ts";

/** Weight rows widened and swept over the batch together; `scratch` holds this many rows. */
export const MATMUL_ROWS = 4;

/**
 * `out[outOffset + t·outStride + r] = W[r, :] · X[t, :]` for tokens `t < nTokens` and rows
 * `r` in `[rowStart, rowEnd)`, where `X[t, j] = x[xOffset + t·n + j]`.
 *
 * @param out Output (float32).
 * @param outOffset Index of element (token 0, row 0) in `out`.
 * @param outStride Distance between consecutive tokens' rows in `out`.
 * @param w The weight matrix `(d, n)`.
 * @param x Input rows, `n` floats per token, contiguous.
 * @param xOffset Index of `X[0, 0]`.
 * @param nTokens Number of tokens `T`.
 * @param rowStart First weight row.
 * @param rowEnd One past the last weight row.
 * @param scratch At least `MATMUL_ROWS · n` floats, private to the caller's thread.
 */
export function matMul(
  out: Float32Array,
  outOffset: number,
  outStride: number,
  w: Matrix,
  x: Float32Array,
  xOffset: number,
  nTokens: number,
  rowStart: number,
  rowEnd: number,
  scratch: Float32Array,
): void {
  const n = w.cols;
  for (let r = rowStart; r < rowEnd; r += MATMUL_ROWS) {
    const rows = Math.min(MATMUL_ROWS, rowEnd - r);
    // f32 weights are read in place; 16-bit rows are widened once for the whole batch.
    let block: Float32Array, blockOffset: number;
    if (w.f32 !== null) {
      block = w.f32;
      blockOffset = r * n;
    } else {
      if (w.pairs !== null) widenPairs(scratch, w.table!, w.pairs, r * (n >> 1), rows * n);
      else widenHalves(scratch, w.table!, w.halves!, r * n, rows * n);
      block = scratch;
      blockOffset = 0;
    }
    if (rows === MATMUL_ROWS) {
      fourRowsByTokens(out, outOffset + r, outStride, block, blockOffset, x, xOffset, n, nTokens);
    } else {
      rowsByTokens(out, outOffset + r, outStride, block, blockOffset, rows, x, xOffset, n, nTokens);
    }
  }
}

/** dst[i] = table[element i], reading two 16-bit elements per word; `count` elements. */
function widenPairs(
  dst: Float32Array,
  table: Float32Array,
  pairs: Uint32Array,
  wordStart: number,
  count: number,
): void {
  for (let i = 0, k = wordStart; i < count; i += 2) {
    const a = pairs[k++];
    dst[i] = table[a & 0xffff];
    dst[i + 1] = table[a >>> 16];
  }
}

/** dst[i] = table[halves[start + i]] for `count` elements. */
function widenHalves(
  dst: Float32Array,
  table: Float32Array,
  halves: Uint16Array,
  start: number,
  count: number,
): void {
  for (let i = 0; i < count; i++) dst[i] = table[halves[start + i]];
}

/**
 * 4 weight rows (float32 at `b[bOffset..]`) against every token, two tokens at a time: 8 sums
 * share each step's 4 weight and 2 input loads.
 */
function fourRowsByTokens(
  out: Float32Array,
  outBase: number,
  outStride: number,
  b: Float32Array,
  bOffset: number,
  x: Float32Array,
  xOffset: number,
  n: number,
  nTokens: number,
): void {
  const o1 = bOffset + n, o2 = o1 + n, o3 = o2 + n;
  let t = 0;
  for (; t + 2 <= nTokens; t += 2) {
    const xa = xOffset + t * n, xb = xa + n;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0; // token t
    let c0 = 0, c1 = 0, c2 = 0, c3 = 0; // token t + 1
    for (let j = 0; j < n; j++) {
      const w0 = b[bOffset + j], w1 = b[o1 + j], w2 = b[o2 + j], w3 = b[o3 + j];
      const u = x[xa + j], v = x[xb + j];
      a0 += w0 * u;
      a1 += w1 * u;
      a2 += w2 * u;
      a3 += w3 * u;
      c0 += w0 * v;
      c1 += w1 * v;
      c2 += w2 * v;
      c3 += w3 * v;
    }
    const oa = outBase + t * outStride, oc = oa + outStride;
    out[oa] = a0;
    out[oa + 1] = a1;
    out[oa + 2] = a2;
    out[oa + 3] = a3;
    out[oc] = c0;
    out[oc + 1] = c1;
    out[oc + 2] = c2;
    out[oc + 3] = c3;
  }
  if (t < nTokens) {
    const xa = xOffset + t * n;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (let j = 0; j < n; j++) {
      const u = x[xa + j];
      a0 += b[bOffset + j] * u;
      a1 += b[o1 + j] * u;
      a2 += b[o2 + j] * u;
      a3 += b[o3 + j] * u;
    }
    const oa = outBase + t * outStride;
    out[oa] = a0;
    out[oa + 1] = a1;
    out[oa + 2] = a2;
    out[oa + 3] = a3;
  }
}

/** The last 1–3 rows of a range, one sum at a time. */
function rowsByTokens(
  out: Float32Array,
  outBase: number,
  outStride: number,
  b: Float32Array,
  bOffset: number,
  rows: number,
  x: Float32Array,
  xOffset: number,
  n: number,
  nTokens: number,
): void {
  for (let t = 0; t < nTokens; t++) {
    const xStart = xOffset + t * n;
    for (let i = 0; i < rows; i++) {
      const wStart = bOffset + i * n;
      let s = 0;
      for (let j = 0; j < n; j++) s += b[wStart + j] * x[xStart + j];
      out[outBase + t * outStride + i] = s;
    }
  }
}
