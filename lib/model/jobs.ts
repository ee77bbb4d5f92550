/**
 * The heavy steps of the forward pass as jobs a pool can split between threads.
 *
 * Each job is one op code plus (layer, number of tokens, position); each thread computes the
 * contiguous share of output rows (or attention heads) that `shareStart` gives it. Every output
 * element is computed entirely by one thread in a fixed order, so the logits do not depend on
 * how many threads there are.
 *
 * | op              | reads              | writes                                  | split by |
 * | --------------- | ------------------ | --------------------------------------- | -------- |
 * | `QKV`           | xb `(T, dim)`      | q `(T, dim)`, key/value cache rows      | rows of wq ‖ wk ‖ wv |
 * | `ATTENTION`     | q, key/value cache | xb `(T, dim)`                           | key/value heads, every token |
 * | `ATTENTION_OUT` | xb                 | xb2 `(T, dim)` = wo xb                  | rows of wo |
 * | `FFN_UP`        | xb                 | hb `(T, hidden)` = silu(w1 xb) · w3 xb  | rows of w1 and w3 |
 * | `FFN_DOWN`      | hb                 | xb2 `(T, dim)` = w2 hb                  | rows of w2 |
 * | `CLASSIFIER`    | xb row 0           | logits `(vocab,)`                       | rows of the output matrix |
 *
 * @module
 */

import { type SharedMapping, viewSharedMapping } from "../../ffi/mmap.ts";
import type { DType } from "../tensor/dtype.ts";
import { attend } from "../kernels/attention.ts";
import { type Matrix, matrixView } from "../kernels/matrix.ts";
import { matMul, MATMUL_ROWS } from "../kernels/matmul.ts";
import { matVec } from "../kernels/matvec.ts";
import { swiGlu } from "../kernels/silu.ts";
import { type JobRunner, shareStart } from "../parallel/pool.ts";
import { RunState, type StateBuffers } from "./run_state.ts";

/** Job op codes. */
export const Op = {
  QKV: 1,
  ATTENTION: 2,
  ATTENTION_OUT: 3,
  FFN_UP: 4,
  FFN_DOWN: 5,
  CLASSIFIER: 6,
} as const;

/** Where one weight matrix lies in the mapped checkpoint. */
export interface MatrixSpec {
  /** Stored element type. */
  readonly dtype: DType;
  /** Offset of element [0, 0] in the file. */
  readonly byteOffset: number;
  /** Output features. */
  readonly rows: number;
  /** Input features. */
  readonly cols: number;
}

/** The matrices of one transformer block. */
export interface LayerSpec {
  /** Queries `(nHeads · headDim, dim)`. */
  readonly wq: MatrixSpec;
  /** Keys `(kvDim, dim)`. */
  readonly wk: MatrixSpec;
  /** Values `(kvDim, dim)`. */
  readonly wv: MatrixSpec;
  /** Attention output `(dim, nHeads · headDim)`. */
  readonly wo: MatrixSpec;
  /** Feed-forward gate `(hidden, dim)`. */
  readonly w1: MatrixSpec;
  /** Feed-forward down `(dim, hidden)`. */
  readonly w2: MatrixSpec;
  /** Feed-forward up `(hidden, dim)`. */
  readonly w3: MatrixSpec;
}

/** Everything a thread needs to run jobs; structured-clonable, posted once to each worker. */
export interface ModelInit {
  /** Query heads. */
  readonly nHeads: number;
  /** Key/value heads. */
  readonly nKvHeads: number;
  /** Size of one head. */
  readonly headDim: number;
  /** The mapped checkpoint. */
  readonly weights: SharedMapping;
  /** The matrices of each transformer block. */
  readonly layers: readonly LayerSpec[];
  /** The classifier: `output.weight`, or `tok_embeddings.weight` when tied. */
  readonly output: MatrixSpec;
  /** Activations and KV cache. */
  readonly state: StateBuffers;
}

/**
 * Builds one thread's views (weights, state, scratch) and returns its job runner.
 *
 * @param init The model description.
 * @param weights The checkpoint's bytes when already at hand (main thread); by default they
 *   are rebuilt from `init.weights` without copying (`viewSharedMapping`).
 * @returns The runner.
 */
export function openJobs(init: ModelInit, weights?: ArrayBufferLike): JobRunner {
  const bytes = weights ?? viewSharedMapping(init.weights);
  const view = (m: MatrixSpec): Matrix => matrixView(m.dtype, bytes, m.byteOffset, m.rows, m.cols);
  const layers = init.layers.map((l) => ({
    wq: view(l.wq),
    wk: view(l.wk),
    wv: view(l.wv),
    wo: view(l.wo),
    w1: view(l.w1),
    w2: view(l.w2),
    w3: view(l.w3),
  }));
  const output = view(init.output);
  const s = new RunState(init.state);
  const { dim, kvDim, hiddenDim, contextLength } = s.buffers.sizes;
  const { nHeads, nKvHeads, headDim } = init;
  const kvGroup = nHeads / nKvHeads; // query heads per key/value head
  // Per-thread scratch: widened weight rows for matMul, attention scores and sums.
  const rowScratch = new Float32Array(MATMUL_ROWS * Math.max(dim, hiddenDim));
  const scores = new Float64Array(nHeads * contextLength);
  const headSums = new Float64Array(nHeads * headDim);

  /** out rows [r0, r1) of w · input for T tokens; one token uses the matrix-vector kernel. */
  const project = (
    out: Float32Array,
    outOffset: number,
    w: Matrix,
    input: Float32Array,
    nTokens: number,
    r0: number,
    r1: number,
  ): void => {
    if (r0 >= r1) return;
    if (nTokens === 1) matVec(out, outOffset, w, input, 0, r0, r1);
    else matMul(out, outOffset, w.rows, w, input, 0, nTokens, r0, r1, rowScratch);
  };

  return (op, layer, nTokens, position, worker, workers) => {
    switch (op) {
      case Op.QKV: {
        // Rows of wq ‖ wk ‖ wv; keys and values go straight into the cache at their positions.
        const { wq, wk, wv } = layers[layer];
        const total = dim + 2 * kvDim;
        const start = shareStart(total, worker, workers);
        const end = shareStart(total, worker + 1, workers);
        const cacheOffset = position * kvDim;
        project(s.q, 0, wq, s.xb, nTokens, start, Math.min(end, dim));
        project(
          s.keyCache[layer],
          cacheOffset,
          wk,
          s.xb,
          nTokens,
          Math.max(start - dim, 0),
          Math.min(end - dim, kvDim),
        );
        project(
          s.valueCache[layer],
          cacheOffset,
          wv,
          s.xb,
          nTokens,
          Math.max(start - dim - kvDim, 0),
          Math.min(end - dim - kvDim, kvDim),
        );
        return;
      }
      case Op.ATTENTION: {
        // Each thread takes the same contiguous share of key/value heads (with their query
        // heads) of every token: equal work even though a prefill's later tokens attend to
        // more positions, and each cache row is read in order. With more threads than
        // key/value heads, one (token, key/value head) item per thread, dealt round-robin.
        const shares = Math.min(workers, nKvHeads);
        for (let item = worker; item < nTokens * shares; item += workers) {
          const t = Math.floor(item / shares), share = item % shares;
          const kv0 = shareStart(nKvHeads, share, shares);
          const kv1 = shareStart(nKvHeads, share + 1, shares);
          const offset = t * dim + kv0 * kvGroup * headDim; // first query head of the share
          attend(
            s.xb,
            offset,
            s.q,
            offset,
            s.keyCache[layer],
            s.valueCache[layer],
            kv0 * headDim,
            kvDim,
            headDim,
            kv1 - kv0,
            kvGroup,
            position + t + 1,
            scores,
            headSums,
          );
        }
        return;
      }
      case Op.ATTENTION_OUT: {
        const start = shareStart(dim, worker, workers), end = shareStart(dim, worker + 1, workers);
        project(s.xb2, 0, layers[layer].wo, s.xb, nTokens, start, end);
        return;
      }
      case Op.FFN_UP: {
        const { w1, w3 } = layers[layer];
        const start = shareStart(hiddenDim, worker, workers);
        const end = shareStart(hiddenDim, worker + 1, workers);
        project(s.hb, 0, w1, s.xb, nTokens, start, end);
        project(s.hb2, 0, w3, s.xb, nTokens, start, end);
        for (let t = 0; t < nTokens; t++) {
          swiGlu(s.hb, s.hb2, t * hiddenDim + start, t * hiddenDim + end);
        }
        return;
      }
      case Op.FFN_DOWN: {
        const start = shareStart(dim, worker, workers), end = shareStart(dim, worker + 1, workers);
        project(s.xb2, 0, layers[layer].w2, s.hb, nTokens, start, end);
        return;
      }
      case Op.CLASSIFIER: {
        const start = shareStart(output.rows, worker, workers);
        const end = shareStart(output.rows, worker + 1, workers);
        project(s.logits, 0, output, s.xb, 1, start, end);
        return;
      }
      default:
        throw new Error(`unknown job op ${op}`);
    }
  };
}
