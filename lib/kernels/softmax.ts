/**
 * Softmax, in place: `x_i <- exp(x_i − max) / Σ_j exp(x_j − max)`.
 *
 * Subtracting the maximum first keeps every `exp` at most 1, so large scores cannot overflow.
 *
 * @example
 * ```ts
 * import { softmax } from "./softmax.ts";
 *
 * const x = new Float64Array([1, 2, 3]);
 * softmax(x, 0, 3); // ≈ [0.090, 0.245, 0.665]
 * ```
 *
 * @module
 */

/**
 * Replaces `x[offset .. offset + n)` by its softmax.
 *
 * @param x The scores (float64 or float32).
 * @param offset First element.
 * @param n Number of elements (≥ 1).
 */
export function softmax(x: Float64Array | Float32Array, offset: number, n: number): void {
  let max = -Infinity;
  for (let i = offset; i < offset + n; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = offset; i < offset + n; i++) {
    const e = Math.exp(x[i] - max);
    x[i] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let i = offset; i < offset + n; i++) x[i] *= inv;
}
