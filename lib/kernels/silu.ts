/**
 * SiLU and the SwiGLU gate of Llama's feed-forward block.
 *
 * `silu(x) = x · sigmoid(x) = x / (1 + e^-x)`; the feed-forward computes
 * `w2(silu(w1 x) · w3 x)`, and {@linkcode swiGlu} is the middle product.
 *
 * @example
 * ```ts
 * import { silu, swiGlu } from "./silu.ts";
 *
 * silu(0); // 0
 * const gate = new Float32Array([1, -1]), up = new Float32Array([2, 2]);
 * swiGlu(gate, up, 0, 2); // gate = [2·silu(1), 2·silu(-1)]
 * ```
 *
 * @module
 */

/**
 * `x · sigmoid(x)`.
 *
 * @param x Input.
 * @returns `x / (1 + e^-x)`.
 */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/**
 * `gate[i] <- silu(gate[i]) · up[i]` for `i` in `[start, end)`.
 *
 * @param gate `w1 x`, overwritten with the gated product.
 * @param up `w3 x`.
 * @param start First element.
 * @param end One past the last element.
 */
export function swiGlu(gate: Float32Array, up: Float32Array, start: number, end: number): void {
  for (let i = start; i < end; i++) {
    const g = gate[i];
    gate[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}
