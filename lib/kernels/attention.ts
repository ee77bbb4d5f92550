/**
 * Causal attention of one token's query heads over the cached keys and values.
 *
 * For each query head, `out = Σ_{i < nPositions} softmax_i(q · k_i / sqrt(headDim)) · v_i`: the
 * query of the token at position `p` reads positions `0..p` only (`nPositions = p + 1`), which
 * is the causal mask. Scores and the weighted sums are kept in float64 scratch arrays and
 * rounded to float32 once.
 *
 * With grouped-query attention the `kvGroup` query heads of a group read the same key/value
 * head. {@linkcode attend} computes the heads of a group together, so each cached key and value
 * is loaded once for all of them (and not once per query head). It also walks the cache
 * position by position through all the key/value heads it is given, so memory is read in
 * address order: one head's slice of every row would touch a new 4 KiB page per position.
 * {@linkcode attendHead} is the same computation for one head, written plainly.
 *
 * Every output element is summed in the same order whichever way the heads are grouped or
 * split between threads, and whether a token is computed alone or in a batch: scores over
 * `d = 0, 1, …, headDim − 1`, the weighted sum over positions `0, 1, …, nPositions − 1`.
 *
 * @example
 * ```ts
 * import { attend } from "./attention.ts";
 *
 * // headDim 2, one kv head read by two query heads, two cached positions (rows of 2 floats)
 * const keys = new Float32Array([1, 0, 0, 1]), values = new Float32Array([1, 2, 3, 4]);
 * const q = new Float32Array([1, 0, 0, 1]), out = new Float32Array(4);
 * attend(out, 0, q, 0, keys, values, 0, 2, 2, 1, 2, 2, new Float64Array(4), new Float64Array(4));
 * ```
 *
 * @module
 */

import { softmax } from "./softmax.ts";

/**
 * Cache rows per tile of the weighted sum of values: the tile stays in the L1 cache while
 * every pair of dimensions is summed over it.
 */
const VALUE_TILE = 32;

/**
 * The attention output of `kvHeads · kvGroup` consecutive query heads of one token.
 *
 * Query head `j` reads key/value head `⌊j / kvGroup⌋` of the range; query heads, key/value
 * heads and output heads are each laid out one after another, `headDim` floats apiece.
 *
 * @param out Destination; receives `kvHeads · kvGroup · headDim` floats at `outOffset`.
 * @param outOffset Where the first head's output goes.
 * @param q Query vectors.
 * @param qOffset Where the first query head starts.
 * @param keys Key cache: one row of `rowStride` floats per position.
 * @param values Value cache, same layout as `keys`.
 * @param cacheOffset Index of position 0 of the first key/value head (kv head · headDim).
 * @param rowStride Floats per cache row (`kvDim`).
 * @param headDim Size of one head (even, as RoPE requires: dimensions are summed in pairs).
 * @param kvHeads Number of key/value heads to attend with.
 * @param kvGroup Query heads per key/value head (`nHeads / nKvHeads`).
 * @param nPositions Number of positions to attend to (`position + 1`).
 * @param scores Scratch, at least `kvHeads · kvGroup · nPositions` float64.
 * @param sums Scratch, at least `kvHeads · kvGroup · headDim` float64.
 */
export function attend(
  out: Float32Array,
  outOffset: number,
  q: Float32Array,
  qOffset: number,
  keys: Float32Array,
  values: Float32Array,
  cacheOffset: number,
  rowStride: number,
  headDim: number,
  kvHeads: number,
  kvGroup: number,
  nPositions: number,
  scores: Float64Array,
  sums: Float64Array,
): void {
  const heads = kvHeads * kvGroup;
  // scores (heads, nPositions) = K (nPositions, headDim) @ q_h (headDim,) / sqrt(headDim)
  queryKeyScores(
    scores,
    q,
    qOffset,
    keys,
    cacheOffset,
    rowStride,
    headDim,
    kvHeads,
    kvGroup,
    nPositions,
  );
  for (let h = 0; h < heads; h++) softmax(scores, h * nPositions, nPositions);
  // sums (heads, headDim) = scores_h (nPositions,) @ V (nPositions, headDim)
  weightedValues(
    sums,
    scores,
    values,
    cacheOffset,
    rowStride,
    headDim,
    kvHeads,
    kvGroup,
    nPositions,
  );
  for (let e = 0; e < heads * headDim; e++) out[outOffset + e] = sums[e];
}

/**
 * `scores[h · nPositions + i] = q_h · k_i / sqrt(headDim)` for the heads of {@linkcode attend}.
 *
 * Cache rows go by in order, two at a time; for each row pair, four query heads of a group at
 * a time: every key element loaded feeds four products and every query element two, and the
 * eight running sums are independent, so the processor overlaps them. A block of a group with
 * fewer than four heads left repeats its last head: the repeat computes the same score into
 * the same place, so it costs time but changes nothing.
 */
function queryKeyScores(
  scores: Float64Array,
  q: Float32Array,
  qOffset: number,
  keys: Float32Array,
  cacheOffset: number,
  rowStride: number,
  headDim: number,
  kvHeads: number,
  kvGroup: number,
  n: number,
): void {
  const scale = 1 / Math.sqrt(headDim);
  for (let i = 0; i < n; i += 2) {
    // Rows i and i + 1; an odd last row is paired with itself and its score written once.
    const pair = i + 1 < n;
    const row = cacheOffset + i * rowStride, nextRow = pair ? row + rowStride : row;
    for (let kv = 0; kv < kvHeads; kv++) {
      const k = row + kv * headDim, kNext = nextRow + kv * headDim;
      const last = (kv + 1) * kvGroup - 1; // the group's last query head
      for (let h = kv * kvGroup; h <= last; h += 4) {
        const h0 = h, h1 = Math.min(h + 1, last);
        const h2 = Math.min(h + 2, last), h3 = Math.min(h + 3, last);
        const q0 = qOffset + h0 * headDim, q1 = qOffset + h1 * headDim;
        const q2 = qOffset + h2 * headDim, q3 = qOffset + h3 * headDim;
        // s: row i, t: row i + 1; one running sum per (head, row)
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (let d = 0; d < headDim; d++) {
          const ki = keys[k + d], kj = keys[kNext + d];
          const x0 = q[q0 + d], x1 = q[q1 + d], x2 = q[q2 + d], x3 = q[q3 + d];
          s0 += x0 * ki;
          s1 += x1 * ki;
          s2 += x2 * ki;
          s3 += x3 * ki;
          t0 += x0 * kj;
          t1 += x1 * kj;
          t2 += x2 * kj;
          t3 += x3 * kj;
        }
        scores[h0 * n + i] = s0 * scale;
        scores[h1 * n + i] = s1 * scale;
        scores[h2 * n + i] = s2 * scale;
        scores[h3 * n + i] = s3 * scale;
        if (pair) {
          scores[h0 * n + i + 1] = t0 * scale;
          scores[h1 * n + i + 1] = t1 * scale;
          scores[h2 * n + i + 1] = t2 * scale;
          scores[h3 * n + i + 1] = t3 * scale;
        }
      }
    }
  }
}

/**
 * `sums[h · headDim + d] = Σ_i scores[h · nPositions + i] · v_i[d]` for the heads of
 * {@linkcode attend}.
 *
 * Cache rows go by in tiles of {@linkcode VALUE_TILE}; within a tile, four query heads of a
 * group and two dimensions at a time keep eight running sums in registers, so every value
 * loaded feeds four products. Each sum still adds position `i` right after position `i − 1`.
 * A short block repeats its last head as in {@linkcode queryKeyScores}: both copies of the
 * sum start from the same stored value, add the same products and store the same result.
 */
function weightedValues(
  sums: Float64Array,
  scores: Float64Array,
  values: Float32Array,
  cacheOffset: number,
  rowStride: number,
  headDim: number,
  kvHeads: number,
  kvGroup: number,
  n: number,
): void {
  sums.fill(0, 0, kvHeads * kvGroup * headDim);
  for (let start = 0; start < n; start += VALUE_TILE) {
    const end = Math.min(start + VALUE_TILE, n);
    for (let kv = 0; kv < kvHeads; kv++) {
      const v0 = cacheOffset + start * rowStride + kv * headDim; // row `start` of this kv head
      const last = (kv + 1) * kvGroup - 1;
      for (let h = kv * kvGroup; h <= last; h += 4) {
        const h0 = h, h1 = Math.min(h + 1, last);
        const h2 = Math.min(h + 2, last), h3 = Math.min(h + 3, last);
        const p0 = h0 * n, p1 = h1 * n, p2 = h2 * n, p3 = h3 * n; // score rows
        const e0 = h0 * headDim, e1 = h1 * headDim, e2 = h2 * headDim, e3 = h3 * headDim;
        for (let d = 0; d < headDim; d += 2) {
          // a: dimension d, b: dimension d + 1; one running sum per (head, dimension)
          let a0 = sums[e0 + d], a1 = sums[e1 + d], a2 = sums[e2 + d], a3 = sums[e3 + d];
          let b0 = sums[e0 + d + 1], b1 = sums[e1 + d + 1];
          let b2 = sums[e2 + d + 1], b3 = sums[e3 + d + 1];
          for (let i = start, v = v0 + d; i < end; i++, v += rowStride) {
            const x = values[v], y = values[v + 1];
            const w0 = scores[p0 + i],
              w1 = scores[p1 + i],
              w2 = scores[p2 + i],
              w3 = scores[p3 + i];
            a0 += w0 * x;
            a1 += w1 * x;
            a2 += w2 * x;
            a3 += w3 * x;
            b0 += w0 * y;
            b1 += w1 * y;
            b2 += w2 * y;
            b3 += w3 * y;
          }
          sums[e0 + d] = a0;
          sums[e1 + d] = a1;
          sums[e2 + d] = a2;
          sums[e3 + d] = a3;
          sums[e0 + d + 1] = b0;
          sums[e1 + d + 1] = b1;
          sums[e2 + d + 1] = b2;
          sums[e3 + d + 1] = b3;
        }
      }
    }
  }
}

/**
 * One head's attention output: the plain form of {@linkcode attend} for a single query head
 * (the same sums in the same order, without the blocking).
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
