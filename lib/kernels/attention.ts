/**
 * Causal attention of one query head over the cached keys and values of one key/value head.
 *
 * `out = Σ_{i < nPositions} softmax_i(q · k_i / sqrt(headDim)) · v_i`: the query of the token at
 * position `p` reads positions `0..p` only (`nPositions = p + 1`), which is the causal mask.
 * Scores and the weighted sum are kept in float64 scratch arrays and rounded to float32 once.
 *
 * With grouped-query attention several query heads read the same key/value head; the caller
 * passes that head's offset inside each cache row instead of copying it.
 *
 * @example
 * ```ts
 * import { attendHead } from "./attention.ts";
 *
 * // headDim 2, two cached positions, one kv head (cache rows of 2 floats)
 * const keys = new Float32Array([1, 0, 0, 1]), values = new Float32Array([1, 2, 3, 4]);
 * const out = new Float32Array(2);
 * attendHead(out, 0, new Float32Array([1, 0]), 0, keys, values, 0, 2, 2, 2,
 *   new Float64Array(2), new Float64Array(2));
 * ```
 *
 * @module
 */

import { softmax } from "./softmax.ts";

/**
 * One head's attention output.
 *
 * @param out Destination; receives `headDim` floats at `outOffset`.
 * @param outOffset Where this head's output goes.
 * @param q Query vectors.
 * @param qOffset Where this head's query starts.
 * @param keys Key cache: one row of `rowStride` floats per position.
 * @param values Value cache, same layout as `keys`.
 * @param cacheOffset Index of position 0 of this kv head (row start + kv head · headDim).
 * @param rowStride Floats per cache row (`kvDim`).
 * @param headDim Size of one head.
 * @param nPositions Number of positions to attend to (`position + 1`).
 * @param scores Scratch, at least `nPositions` float64.
 * @param sum Scratch, at least `headDim` float64.
 */
export function attendHead(
  out: Float32Array,
  outOffset: number,
  q: Float32Array,
  qOffset: number,
  keys: Float32Array,
  values: Float32Array,
  cacheOffset: number,
  rowStride: number,
  headDim: number,
  nPositions: number,
  scores: Float64Array,
  sum: Float64Array,
): void {
  const scale = 1 / Math.sqrt(headDim);
  // scores (nPositions,) = K (nPositions, headDim) @ q (headDim,) / sqrt(headDim)
  for (let i = 0, k = cacheOffset; i < nPositions; i++, k += rowStride) {
    let s = 0;
    for (let d = 0; d < headDim; d++) s += q[qOffset + d] * keys[k + d];
    scores[i] = s * scale;
  }
  softmax(scores, 0, nPositions);
  // out (headDim,) = scores (nPositions,) @ V (nPositions, headDim)
  sum.fill(0, 0, headDim);
  for (let i = 0, k = cacheOffset; i < nPositions; i++, k += rowStride) {
    const a = scores[i];
    for (let d = 0; d < headDim; d++) sum[d] += a * values[k + d];
  }
  for (let d = 0; d < headDim; d++) out[outOffset + d] = sum[d];
}
