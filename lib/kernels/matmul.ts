/**
 * Matrix × matrix for prefill: `X (T, n) @ W^T (n, d) -> out (T, d)`, for the weight rows
 * `[rowStart, rowEnd)` one worker owns.
 *
 * Prefill runs all prompt tokens through each weight matrix in one pass, so each weight is read
 * from memory and widened to float32 once for the whole batch instead of once per token. The
 * loop takes {@linkcode MATMUL_ROWS} weight rows at a time, widens them into `scratch`
 * (interleaved: the 4 weights of column `j` side by side, so one index reaches all of them),
 * then sweeps the batch {@linkcode MATMUL_TOKENS} tokens at a time. The innermost loop keeps
 * 4 × 3 = 12 sums in registers: each step loads 4 weights and 3 inputs and does 12
 * multiply-adds, where a plain dot product does one per 2 loads.
 *
 * In JavaScript this loop is bound by instructions, not by memory: every typed-array load comes
 * with a bounds check, and multiply and add are separate float64 instructions (JavaScript must
 * round after each). 4 × 3 measured fastest among the block shapes that fit the 16 SSE
 * registers; larger blocks spill sums to the stack and run slower. Index arithmetic is written
 * `(i + c) | 0`: that keeps it in int32, so V8 emits no overflow checks (≈10% faster); indices
 * stay below 2^31 because `matrixView` refuses larger matrices.
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
import { matVec } from "./matvec.ts";

/** Weight rows widened and swept over the batch together; `scratch` holds this many rows. */
export const MATMUL_ROWS = 4;

/** Tokens whose sums the innermost loop keeps in registers alongside the rows'. */
export const MATMUL_TOKENS = 3;

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
  let r = rowStart;
  for (; r + MATMUL_ROWS <= rowEnd; r += MATMUL_ROWS) {
    // scratch (n, 4) = W[r..r+4, :]^T, each weight widened once for the whole batch.
    if (w.pairs !== null) widenPairs(scratch, w.table!, w.pairs, r, n);
    else if (w.halves !== null) widenHalves(scratch, w.table!, w.halves, r, n);
    else interleave(scratch, w.f32!, r, n);
    const o = outOffset + r;
    let t = 0;
    for (; t + MATMUL_TOKENS <= nTokens; t += MATMUL_TOKENS) {
      fourByThree(out, o + t * outStride, outStride, scratch, x, xOffset + t * n, n);
    }
    if (nTokens - t === 2) {
      fourByTwo(out, o + t * outStride, outStride, scratch, x, xOffset + t * n, n);
    }
    if (nTokens - t === 1) fourByOne(out, o + t * outStride, scratch, x, xOffset + t * n, n);
  }
  // The last 1–3 rows of the range: one token at a time, the same sums.
  if (r < rowEnd) {
    for (let t = 0; t < nTokens; t++) {
      matVec(out, outOffset + t * outStride, w, x, xOffset + t * n, r, rowEnd);
    }
  }
}

/** dst[4j + i] = W[r + i, j] for i < 4, from 16-bit elements read two per 32-bit word. */
function widenPairs(
  dst: Float32Array,
  table: Float32Array,
  pairs: Uint32Array,
  r: number,
  n: number,
): void {
  const words = n >> 1;
  let k0 = r * words;
  let k1 = k0 + words, k2 = k1 + words, k3 = k2 + words;
  for (let d = 0, end = 4 * n; d < end; d += 8) {
    let a = pairs[k0++];
    dst[d] = table[a & 0xffff];
    dst[d + 4] = table[a >>> 16];
    a = pairs[k1++];
    dst[d + 1] = table[a & 0xffff];
    dst[d + 5] = table[a >>> 16];
    a = pairs[k2++];
    dst[d + 2] = table[a & 0xffff];
    dst[d + 6] = table[a >>> 16];
    a = pairs[k3++];
    dst[d + 3] = table[a & 0xffff];
    dst[d + 7] = table[a >>> 16];
  }
}

/** dst[4j + i] = W[r + i, j] for i < 4, from 16-bit elements read one at a time. */
function widenHalves(
  dst: Float32Array,
  table: Float32Array,
  halves: Uint16Array,
  r: number,
  n: number,
): void {
  for (let i = 0; i < 4; i++) {
    for (let j = 0, k = (r + i) * n; j < n; j++) dst[4 * j + i] = table[halves[k++]];
  }
}

/** dst[4j + i] = W[r + i, j] for i < 4, from float32 elements. */
function interleave(dst: Float32Array, f32: Float32Array, r: number, n: number): void {
  for (let i = 0; i < 4; i++) {
    for (let j = 0, k = (r + i) * n; j < n; j++) dst[4 * j + i] = f32[k++];
  }
}

/**
 * The hot loop: 4 interleaved weight rows `w` against 3 tokens `x[xa..]`, `x[xa + n..]`,
 * `x[xa + 2n..]`; `out[o + t·stride + i]` = row `i` · token `t`.
 */
function fourByThree(
  out: Float32Array,
  o: number,
  stride: number,
  w: Float32Array,
  x: Float32Array,
  xa: number,
  n: number,
): void {
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0; // token 0, rows 0..3
  let b0 = 0, b1 = 0, b2 = 0, b3 = 0; // token 1
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0; // token 2
  const xb = (xa + n) | 0, xc = (xb + n) | 0;
  for (let j = 0, k = 0; j < n; j = (j + 1) | 0, k = (k + 4) | 0) {
    const u = x[(xa + j) | 0], v = x[(xb + j) | 0], y = x[(xc + j) | 0];
    const w0 = w[k];
    a0 += w0 * u;
    b0 += w0 * v;
    c0 += w0 * y;
    const w1 = w[(k + 1) | 0];
    a1 += w1 * u;
    b1 += w1 * v;
    c1 += w1 * y;
    const w2 = w[(k + 2) | 0];
    a2 += w2 * u;
    b2 += w2 * v;
    c2 += w2 * y;
    const w3 = w[(k + 3) | 0];
    a3 += w3 * u;
    b3 += w3 * v;
    c3 += w3 * y;
  }
  out[o] = a0;
  out[o + 1] = a1;
  out[o + 2] = a2;
  out[o + 3] = a3;
  o += stride;
  out[o] = b0;
  out[o + 1] = b1;
  out[o + 2] = b2;
  out[o + 3] = b3;
  o += stride;
  out[o] = c0;
  out[o + 1] = c1;
  out[o + 2] = c2;
  out[o + 3] = c3;
}

/** {@linkcode fourByThree} for the last 2 tokens of a batch. */
function fourByTwo(
  out: Float32Array,
  o: number,
  stride: number,
  w: Float32Array,
  x: Float32Array,
  xa: number,
  n: number,
): void {
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  let b0 = 0, b1 = 0, b2 = 0, b3 = 0;
  const xb = (xa + n) | 0;
  for (let j = 0, k = 0; j < n; j = (j + 1) | 0, k = (k + 4) | 0) {
    const u = x[(xa + j) | 0], v = x[(xb + j) | 0];
    const w0 = w[k], w1 = w[(k + 1) | 0], w2 = w[(k + 2) | 0], w3 = w[(k + 3) | 0];
    a0 += w0 * u;
    a1 += w1 * u;
    a2 += w2 * u;
    a3 += w3 * u;
    b0 += w0 * v;
    b1 += w1 * v;
    b2 += w2 * v;
    b3 += w3 * v;
  }
  out[o] = a0;
  out[o + 1] = a1;
  out[o + 2] = a2;
  out[o + 3] = a3;
  o += stride;
  out[o] = b0;
  out[o + 1] = b1;
  out[o + 2] = b2;
  out[o + 3] = b3;
}

/** {@linkcode fourByThree} for the last token of a batch. */
function fourByOne(
  out: Float32Array,
  o: number,
  w: Float32Array,
  x: Float32Array,
  xa: number,
  n: number,
): void {
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (let j = 0, k = 0; j < n; j = (j + 1) | 0, k = (k + 4) | 0) {
    const u = x[(xa + j) | 0];
    a0 += w[k] * u;
    a1 += w[(k + 1) | 0] * u;
    a2 += w[(k + 2) | 0] * u;
    a3 += w[(k + 3) | 0] * u;
  }
  out[o] = a0;
  out[o + 1] = a1;
  out[o + 2] = a2;
  out[o + 3] = a3;
}
