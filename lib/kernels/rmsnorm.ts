/**
 * RMSNorm: scale a vector to unit root-mean-square, then by a learned weight per element.
 *
 * `out = x / sqrt(mean(x²) + eps) * weight`, with the sum of squares in float64.
 *
 * @example
 * ```ts
 * import { rmsNorm } from "./rmsnorm.ts";
 *
 * const out = new Float32Array(2);
 * rmsNorm(out, 0, new Float32Array([3, 4]), 0, new Float32Array([1, 1]), 2, 0);
 * // out ≈ [0.8485, 1.1314]: divided by sqrt((9 + 16) / 2)
 * ```
 *
 * @module
 */

/**
 * `out[o + i] = x[xo + i] · weight[i] / sqrt(mean(x²) + eps)` for `i < n`. `out` may be `x`.
 *
 * @param out Destination.
 * @param outOffset Where the result starts in `out`.
 * @param x Source vector.
 * @param xOffset Where the vector starts in `x`.
 * @param weight Learned per-element scale, `n` floats.
 * @param n Vector length.
 * @param eps Added to the mean square (1e-5 for Llama 3).
 */
export function rmsNorm(
  out: Float32Array,
  outOffset: number,
  x: Float32Array,
  xOffset: number,
  weight: Float32Array,
  n: number,
  eps: number,
): void {
  let sumSquares = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xOffset + i];
    sumSquares += v * v;
  }
  const scale = 1 / Math.sqrt(sumSquares / n + eps);
  for (let i = 0; i < n; i++) out[outOffset + i] = x[xOffset + i] * scale * weight[i];
}
