/**
 * The TypeScript backend: the plain kernels of this folder (`matvec.ts`, `matmul.ts`,
 * `attention.ts`) over views of the weights and state memories. It is the readable reference
 * the WebAssembly kernels are tested against, and the fallback (`--kernels ts`).
 *
 * Each storage type plugs in through {@linkcode TS_MATRIX_KERNELS}: how to view a matrix of
 * that type and multiply it. The table is keyed by every {@linkcode StorageType}, so a type
 * added to `lib/tensor/storage.ts` without TypeScript kernels does not compile.
 *
 * @example
 * ```ts
 * import { createTsBackend } from "./ts_backend.ts";
 * import type { BackendInit } from "./backend.ts";
 *
 * declare const init: BackendInit;
 * const backend = createTsBackend(init);
 * backend.matMul({ type: "bf16", byteOffset: 0, rows: 8, cols: 16 }, 0, 64, 8, 1, 0, 8);
 * ```
 *
 * @module
 */

import type { BlockStorageType, StorageType } from "../tensor/storage.ts";
import { attend } from "./attention.ts";
import { swiGlu } from "./silu.ts";
import { rmsNorm } from "./rmsnorm.ts";
import { rope, ropeHalves } from "./rope.ts";
import type { BackendInit, KernelBackend, MatrixRef } from "./backend.ts";
import { matMul, MATMUL_ROWS } from "./matmul.ts";
import { type Matrix, matrixView, readRow } from "./matrix.ts";
import { matVec } from "./matvec.ts";
import { type BlockMatrix, blockMatrixView, multiplyBlocks, readBlockRow } from "./quant/matmul.ts";

/**
 * How the TypeScript backend multiplies one storage type; `M` is the type's view of a matrix
 * (`Matrix` for floats, `BlockMatrix` for ggml's block types).
 */
export interface TsMatrixKernels<M extends object = object> {
  /** A matrix over the weights' bytes, built once per weight. */
  view(weights: ArrayBufferLike, ref: MatrixRef): M;
  /** Widens row `row` of `m` to float32 at `out[outOffset ..]`. */
  readRow(m: M, row: number, out: Float32Array, outOffset: number): void;
  /** `matVec` for one token, `matMul` for several; see `KernelBackend.matMul`. */
  multiply(
    m: M,
    x: Float32Array,
    out: Float32Array,
    outStride: number,
    tokens: number,
    rowStart: number,
    rowEnd: number,
    rowScratch: Float32Array,
  ): void;
}

const FLOAT_KERNELS: TsMatrixKernels<Matrix> = {
  view: (weights, ref) =>
    matrixView(ref.type as "f32", weights, ref.byteOffset, ref.rows, ref.cols),
  readRow: (m, row, out, outOffset) => readRow(out, outOffset, m, row),
  multiply(m, x, out, outStride, tokens, rowStart, rowEnd, rowScratch) {
    if (tokens === 1) matVec(out, 0, m, x, 0, rowStart, rowEnd);
    else matMul(out, 0, outStride, m, x, 0, tokens, rowStart, rowEnd, rowScratch);
  },
};

const BLOCK_KERNELS: TsMatrixKernels<BlockMatrix> = {
  view: (weights, ref) =>
    blockMatrixView(ref.type as BlockStorageType, weights, ref.byteOffset, ref.rows, ref.cols),
  readRow: readBlockRow,
  multiply: multiplyBlocks,
};

/** Every storage type's TypeScript kernels. */
export const TS_MATRIX_KERNELS: { readonly [T in StorageType]: TsMatrixKernels } = {
  f32: FLOAT_KERNELS,
  f16: FLOAT_KERNELS,
  bf16: FLOAT_KERNELS,
  q8_0: BLOCK_KERNELS,
  q4_0: BLOCK_KERNELS,
  q5_0: BLOCK_KERNELS,
  q4_k: BLOCK_KERNELS,
  q5_k: BLOCK_KERNELS,
  q6_k: BLOCK_KERNELS,
};

/**
 * A weight widened to float32, e.g. a norm, or a tensor a test inspects: a copy.
 *
 * @param weights The weights memory's bytes.
 * @param ref Where the tensor lies; a 1-D tensor is one row.
 * @returns `rows · cols` floats.
 */
export function readFloats(weights: ArrayBufferLike, ref: MatrixRef): Float32Array {
  const kernels = TS_MATRIX_KERNELS[ref.type];
  const m = kernels.view(weights, ref);
  const out = new Float32Array(ref.rows * ref.cols);
  for (let r = 0; r < ref.rows; r++) kernels.readRow(m, r, out, r * ref.cols);
  return out;
}

/** Typed-array indices stay below 2^31 (the kernels index with int32 arithmetic). */
const MAX_VIEW_FLOATS = 0x7fffffff;

/**
 * Builds the TypeScript backend for one thread.
 *
 * @param init The memories and scratch sizes.
 * @returns The backend.
 */
export function createTsBackend(init: BackendInit): KernelBackend {
  const weights = init.weights.buffer, state = init.state.buffer;
  const matrices = new Map<number, { m: object; ref: MatrixRef }>();
  const views = new Map<number, Float32Array>();
  /** Floats of the state memory from `byteOffset` on. */
  const view = (byteOffset: number): Float32Array => {
    let v = views.get(byteOffset);
    if (v === undefined) {
      const floats = Math.min((state.byteLength - byteOffset) / 4, MAX_VIEW_FLOATS);
      v = new Float32Array(state, byteOffset, Math.floor(floats));
      views.set(byteOffset, v);
    }
    return v;
  };
  const rowScratch = new Float32Array(MATMUL_ROWS * init.maxCols);
  const scores = new Float64Array(init.maxScores);
  const sums = new Float64Array(init.maxCols);

  return {
    name: "ts",
    matMul(w, x, out, outStride, tokens, rowStart, rowEnd) {
      if (rowStart >= rowEnd) return;
      const kernels = TS_MATRIX_KERNELS[w.type];
      let entry = matrices.get(w.byteOffset);
      if (
        entry === undefined || entry.ref.type !== w.type || entry.ref.rows !== w.rows ||
        entry.ref.cols !== w.cols
      ) {
        entry = { m: kernels.view(weights, w), ref: w };
        matrices.set(w.byteOffset, entry);
      }
      kernels.multiply(
        entry.m,
        view(x),
        view(out),
        outStride,
        tokens,
        rowStart,
        rowEnd,
        rowScratch,
      );
    },
    swiGlu(gate, up, rowFloats, tokens, start, end) {
      const g = view(gate), u = view(up);
      for (let t = 0; t < tokens; t++) {
        swiGlu(g, u, t * rowFloats + start, t * rowFloats + end);
      }
    },
    rmsNorm(x, residual, out, weight, n, tokens, eps) {
      const xs = view(x), o = view(out), w = view(weight);
      if (residual !== undefined) {
        const r = view(residual);
        for (let i = 0; i < n * tokens; i++) xs[i] += r[i];
      }
      for (let t = 0; t < tokens; t++) rmsNorm(o, t * n, xs, t * n, w, n, eps);
    },
    rope(v, rowFloats, heads, headDim, tokens, position, cos, sin, halves) {
      const rows = view(v), rotate = halves ? ropeHalves : rope;
      const table = { headDim, positions: position + tokens, cos: view(cos), sin: view(sin) };
      for (let t = 0; t < tokens; t++) rotate(rows, t * rowFloats, heads, table, position + t);
    },
    attention(q, out, keys, values, rowFloats, headDim, kvHeads, kvGroup, positions) {
      attend(
        view(out),
        0,
        view(q),
        0,
        view(keys),
        view(values),
        0,
        rowFloats,
        headDim,
        kvHeads,
        kvGroup,
        positions,
        scores,
        sums,
      );
    },
  };
}
